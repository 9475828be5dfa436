"""The application layer every front door shares: one cache of engines and source bindings (`cache`), swap jobs
with their pre-flight checks (`jobs` for images, `video` for video files), and the one labelled output writer
(`output`). Front doors (cli, api, live, batch, service) call these and never each other."""
