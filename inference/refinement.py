"""The /imagine refinement layer: the persona's face swapped onto an output's main subject when the output
alone falls short of the persona's likeness (see ``inference.engines.image.gate``).

Prepared lazily: a job whose outputs all pass never loads the swap engine or the persona's photos.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from inference.engines.faceswap import SwapRequest
from inference.engines.image.gate import Refine, Refined
from inference.engines.image.pipeline import GeneratedImage
from inference.persona_face import PersonaFace, Reference, prepare
from inference.task_context import TaskContext
from storage.models import Persona


def refiner(ctx: TaskContext, persona: Persona, references: list[Reference]) -> Refine:
    """The refinement for ``persona``'s outputs in this job."""
    prepared: list[PersonaFace] = []

    def refine(output: GeneratedImage) -> Refined | None:
        if not prepared:
            prepared.append(prepare(ctx, persona, references))
        face = prepared[0]
        request = SwapRequest(source=face.source, alternatives=face.alternatives, identity=face.identity,
                              target=np.ascontiguousarray(np.asarray(output.image.convert("RGB"))),
                              candidates=ctx.settings.swap_candidates,
                              choice_budget_s=ctx.settings.swap_choice_budget_s,
                              faces="largest")  # the main subject only: bystanders keep their own faces
        result = face.engine.run(request, lambda _fraction, _stage: ctx.check_cancelled())
        if result.faces_swapped == 0 or result.image is None:
            return None
        picture = Image.fromarray(result.image)
        return Refined(image=GeneratedImage(image=picture, seed=output.seed, width=picture.width,
                                            height=picture.height),
                       reference=result.reference or face.source.label)

    return refine
