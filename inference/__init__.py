"""Workers: model store, engines, pipeline cache and the RQ task functions. Imported by workers only."""
