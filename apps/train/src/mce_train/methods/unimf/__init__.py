"""UniMF (Huan et al., IEEE TMM 2023) as a comparison method: ``--methods unimf``.

* :mod:`~mce_train.methods.unimf.method`: :class:`UniMF` (task + translation loss) and :class:`UniMFNet`;
* :mod:`~mce_train.methods.unimf.translation`: the translators in the completion slot;
* :mod:`~mce_train.methods.unimf.fusion`: the multimodal-label fusion head;
* :mod:`~mce_train.methods.unimf.transformer`: the masked transformer and its two masks.
"""

from __future__ import annotations

from mce_train.methods.unimf.fusion import LabelFusion
from mce_train.methods.unimf.method import UniMF, UniMFNet, build_unimf
from mce_train.methods.unimf.transformer import MaskedTransformer, as_tokens, as_vector, label_mask, translation_mask
from mce_train.methods.unimf.translation import TranslationCompletion, Translator

__all__ = [
    "LabelFusion",
    "MaskedTransformer",
    "TranslationCompletion",
    "Translator",
    "UniMF",
    "UniMFNet",
    "as_tokens",
    "as_vector",
    "build_unimf",
    "label_mask",
    "translation_mask",
]
