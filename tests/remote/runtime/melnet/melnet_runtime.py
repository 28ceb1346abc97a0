"""MLServer custom runtime for the remote tests: serves melnet (melnet_net.py) as model `melnet`,
input `mel` FP32 [T, 80] -> output `ppg` FP32 [T, 25].

Runs inside MLServer's own virtualenv: numpy and mlserver only, no modulespack import.
Parameters (model-settings.json `parameters.extra`): `seed` of the weights, `delay` in seconds
slept per request (lets tests keep requests in flight while a server is killed).
"""
import asyncio

import numpy as np
from melnet_net import N_MELS, forward, make_weights
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.errors import MLServerError
from mlserver.types import InferenceRequest, InferenceResponse


class MelNet(MLModel):
    async def load(self) -> bool:
        extra = (self.settings.parameters.extra if self.settings.parameters else None) or {}
        self._weights = make_weights(int(extra.get("seed", 0)))
        self._delay = float(extra.get("delay", 0.0))
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        by_name = {i.name: i for i in payload.inputs}
        if "mel" not in by_name:
            raise MLServerError(f"melnet: no input 'mel' (got {sorted(by_name)})")
        mel = NumpyCodec.decode_input(by_name["mel"]).astype(np.float32, copy=False)
        if mel.ndim != 2 or mel.shape[1] != N_MELS:
            raise MLServerError(f"melnet: input 'mel' must be [T, {N_MELS}], got {list(mel.shape)}")
        if self._delay:
            await asyncio.sleep(self._delay)
        out = forward(mel, self._weights)
        return InferenceResponse(model_name=self.name, model_version=self.version,
                                 outputs=[NumpyCodec.encode_output("ppg", out)])
