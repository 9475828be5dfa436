"""Live mode: a camera or stream (or a file played in real time) through the engine to a window, a browser, a
virtual camera or a labelled recording. `session` is the two-stage loop, `capture` the newest-frame grabber,
`sinks` where frames go."""
