"""Write the synthetic crowd clip the video and live benchmarks use (issue 21): 1080p, 8-11 real faces.

python tools/make_crowd_clip.py ../shared/testdata out/crowd_1080p.mp4 [--seconds 6]
faceweave bench --video out/crowd_1080p.mp4 --json
faceweave bench --live --input out/crowd_1080p.mp4 --resize 720p --retime 60 --json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from faceweave.lab.crowd import CrowdSpec, write_crowd_clip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("testdata", type=Path, help="the folder with video/ and images/ (../shared/testdata)")
    parser.add_argument("output", type=Path, help="the .mp4 to write")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--fps", type=int, default=25)
    args = parser.parse_args()
    spec = CrowdSpec.from_testdata(args.testdata, args.seconds, args.fps)
    print(write_crowd_clip(spec, args.output))


if __name__ == "__main__":
    main()
