"""RQ task functions, one module per capability; enqueued by dotted path with a job id."""
