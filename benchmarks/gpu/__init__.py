"""The prepared GPU run: every GPU figure from one call on a CUDA machine that reaches nothing outside itself.

``benchmarks/gpu/run.sh`` checks the GPU, installs the wheels ``scripts/gpu_wheels.sh`` put into ``.whl/``
into a temporary site folder and runs the stages (``stage_*.py``) one process each, every one under its own
time limit, writing ``gpu.json`` and ``gpu.md`` into ``$OUT``. ``python -m benchmarks.gpu.run --tiny``
rehearses the same stages on a CPU with the tiny random-weight models.
"""
