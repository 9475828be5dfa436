"""`faceweave serve` and `faceweave keys create | list | revoke`: the command-line side of the service."""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Callable, Sequence
from pathlib import Path

from faceweave.errors import UsageError
from faceweave.service.config import MB, ServiceConfig, default_data_dir
from faceweave.service.keys import KeyStore
from faceweave.settings import Settings

Write = Callable[[str], None]
KEYS_ENV = "FACEWEAVE_API_KEYS"
SERVE_EPILOG = """examples:
  faceweave keys create --name laptop && faceweave serve     # http://127.0.0.1:8000/, that key in the web UI
  faceweave serve --no-auth --port 8080                     # this machine only, no key asked
  faceweave serve --host 0.0.0.0 --api-key-file keys.txt --workers 2"""
KEYS_EPILOG = """examples:
  faceweave keys create --name laptop
  faceweave keys list
  faceweave keys revoke ID                                  # an id from `keys list`"""


def add_serve_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """Register `serve`; returns its parser so the CLI can add the swap settings to it."""
    serve = commands.add_parser(
        "serve", help="REST API and web UI on http://HOST:PORT/ (needs faceweave[service])", epilog=SERVE_EPILOG
    )
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--data-dir", type=Path, help="jobs, results and keys (default: $FACEWEAVE_DATA_DIR, else ~/.local/share/...)"
    )
    serve.add_argument(
        "--api-key",
        action="append",
        default=[],
        help=f"also accept this key for this run (repeatable; visible in `ps`: prefer --api-key-file or ${KEYS_ENV})",
    )
    serve.add_argument("--api-key-file", type=Path, help="also accept the keys in this file, one a line (# comments)")
    serve.add_argument("--no-auth", action="store_true", help="no API key needed (only with a localhost --host)")
    serve.add_argument("--workers", type=int, default=1, help="worker threads, each with its own models (1)")
    serve.add_argument("--queue-size", type=int, default=8, help="requests that may wait; more get 503 (8)")
    serve.add_argument("--max-upload-mb", type=float, default=20, help="largest image upload (20)")
    serve.add_argument("--max-video-mb", type=float, default=200, help="largest video upload (200)")
    serve.add_argument("--max-pixels", type=int, default=40_000_000, help="largest image, in pixels (40e6)")
    serve.add_argument(
        "--max-video-frame-pixels", type=int, default=3840 * 2160, help="largest video frame, in pixels (4K UHD)"
    )
    serve.add_argument("--max-video-seconds", type=float, default=600, help="longest video job, in seconds (600)")
    serve.add_argument("--max-video-frames", type=int, default=30_000, help="most frames in a video job (30000)")
    serve.add_argument(
        "--max-results-gb", type=float, default=20, help="finished jobs' files kept in all; oldest deleted beyond (20)"
    )
    serve.add_argument("--max-results-gb-per-key", type=float, default=5, help="the same per API key (5)")
    serve.add_argument(
        "--header-timeout", type=float, default=10, help="seconds a client has to send a request's headers (10)"
    )
    serve.add_argument("--max-connections", type=int, default=512, help="open connections at most; more are closed")
    serve.add_argument("--rate-limit", type=int, default=120, help="requests per minute per key; 0: none (120)")
    serve.add_argument("--result-ttl", type=float, default=3600, help="seconds job results are kept (3600)")
    serve.add_argument("--require-consent", action="store_true", help="refuse swaps without a consent statement")
    serve.add_argument(
        "--max-live-sessions",
        type=int,
        default=2,
        help="webcam sessions on /v1/live at once, a thread each; 0: off (2)",
    )
    serve.add_argument("--cors-origin", action="append", default=[], help="allow this browser origin (repeatable)")
    return serve


def add_keys_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `keys` and its sub-commands."""
    keys = commands.add_parser("keys", help="create, list or revoke the service's API keys", epilog=KEYS_EPILOG)
    data_help = "where keys.sqlite lives (default: $FACEWEAVE_DATA_DIR, else ~/.local/share/faceweave/service)"
    keys.add_argument("--data-dir", type=Path, help=data_help)
    actions = keys.add_subparsers(dest="keys_command", required=True)
    create = actions.add_parser("create", help="make a key and print it (shown once; only its hash is stored)")
    create.add_argument("--name", default="", help="who or what the key is for")
    listing = actions.add_parser("list", help="ids, names, creation and revocation times")
    revoke = actions.add_parser("revoke", help="revoke a key by id (requests with it get 403)")
    revoke.add_argument("id")
    for action in (create, listing, revoke):  # `keys create --data-dir D` as well as `keys --data-dir D create`
        action.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS, help=data_help)


def run_keys(given: Sequence[str], file: Path | None, environment: str) -> tuple[str, ...]:
    """The keys `serve` accepts besides its key store: `--api-key` values, the lines of `--api-key-file` (blank lines
    and # comments skipped) and the whitespace- or comma-separated `FACEWEAVE_API_KEYS`, each once, in that order."""
    keys = list(given)
    if file is not None:
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"cannot read --api-key-file '{file}' ({exc}); give a UTF-8 text file, one key a line"
            ) from exc
        keys += [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    keys += [key for key in environment.replace(",", " ").split() if key]
    return tuple(dict.fromkeys(keys))


def service_config(args: argparse.Namespace, settings: Settings) -> ServiceConfig:
    """The ServiceConfig the `serve` flags describe."""
    return ServiceConfig(
        data_dir=args.data_dir or default_data_dir(),
        host=args.host,
        port=args.port,
        api_keys=run_keys(args.api_key, args.api_key_file, os.environ.get(KEYS_ENV, "")),
        no_auth=args.no_auth,
        workers=args.workers,
        queue_size=args.queue_size,
        max_upload_bytes=int(args.max_upload_mb * MB),
        max_video_bytes=int(args.max_video_mb * MB),
        max_image_pixels=args.max_pixels,
        max_video_frame_pixels=args.max_video_frame_pixels,
        max_video_seconds=args.max_video_seconds,
        max_video_frames=args.max_video_frames,
        max_results_bytes=int(args.max_results_gb * 1024 * MB),
        max_results_bytes_per_key=int(args.max_results_gb_per_key * 1024 * MB),
        rate_limit=args.rate_limit,
        result_ttl_s=args.result_ttl,
        require_consent=args.require_consent,
        max_live_sessions=args.max_live_sessions,
        cors_origins=tuple(args.cors_origin),
        settings=settings,
    )


def serve(args: argparse.Namespace, settings: Settings, write: Write) -> int:
    """Run the service until Ctrl-C (uvicorn, one process; the workers are threads)."""
    config = service_config(args, settings)
    try:
        import uvicorn

        from faceweave.service.app import create_app
        from faceweave.service.observe import configure_json_logs
        from faceweave.service.server import ConnectionLimits, guarded_protocol
    except ImportError as exc:
        raise UsageError(
            f"the service needs its extra ({exc.name} is missing): pip install 'faceweave[service]'"
        ) from None
    if not config.no_auth and not config.api_keys and not KeyStore(config.keys_path).list_keys():
        write(f"warning: no API keys in {config.keys_path}; create one with `faceweave keys create`")
    check_port_free(config.host, config.port)
    configure_json_logs()
    os.umask(0o077)  # the process is the service's: every result, upload and log it writes is private to its user
    write(f"faceweave service on http://{config.host}:{config.port}/ (OpenAPI schema at /openapi.json)")
    limits = ConnectionLimits(args.header_timeout, args.max_connections)
    uvicorn.run(
        create_app(config),
        host=config.host,
        port=config.port,
        log_config=None,
        access_log=False,
        http=guarded_protocol(limits),
        timeout_keep_alive=int(limits.keep_alive_s),
        ws_max_size=config.max_upload_bytes + MB,  # a larger message closes with 1009; up to it, /v1/live answers 4413
    )
    return 0


def check_port_free(host: str, port: int) -> None:
    """UsageError (one line, exit 2) when `host:port` cannot be bound, before anything is printed or loaded: a busy
    port used to show the service's URL and then exit 3 with the reason inside a JSON log line."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port or --host"
            ) from None


def keys(args: argparse.Namespace, write: Write) -> int:
    """`keys create | list | revoke`."""
    store = KeyStore((args.data_dir or default_data_dir()) / "keys.sqlite")
    if args.keys_command == "create":
        record, secret = store.create(args.name)
        write(f"id {record.id}  name {record.name or '-'}")
        write(f"key {secret}")
        write("(shown once: only its hash is stored; send it as `Authorization: Bearer KEY`)")
    elif args.keys_command == "list":
        for record in store.list_keys():
            state = f"revoked {record.revoked}" if record.revoked else "active"
            write(f"{record.id}  {record.name or '-':<20}  created {record.created}  {state}")
    else:
        record = store.revoke(args.id)
        write(f"{record.id} revoked {record.revoked}")
    return 0
