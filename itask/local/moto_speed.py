"""Work the local stack and the tests repeat for every stack, done once per process.

None of these changes what moto answers: each keeps, in memory, what an immutable input gives.

* The state machine's definition is parsed by moto's ASL parser (ANTLR, pure Python) when the state
  machine is created and again at the start of every execution: a sixth of a typical integration
  test's time. The parse of one definition text is kept and reused (moto already evaluates one
  parsed program concurrently for every Map iteration: the components hold no execution state).
* Every JSONPath of a state (``$.task_id``) is compiled again by jsonpath-ng's PLY parser at every
  evaluation; the compiled paths are kept (they are immutable: ``find`` does not change them).
* moto gives every KMS key an RSA-2048 key pair at creation, a symmetric key too (whose pair only
  its sign and verify would read): the pair of a symmetric key is generated when first read.
* botocore loads its JSON service models and endpoint data once per Session, and moto starts a new
  default Session for every ``mock_aws`` (so every test stack) and for the Lambda client of every
  Task state: the JSON decoding was a fifteenth of that time. Sessions share one data loader,
  as clients of one Session already do.
* moto finds the method of every request's action by listing the response class's functions with
  ``inspect.getmembers`` (sorting every attribute of the class), once per request: a hundredth of
  the integration suite's samples. The names of a class's functions are kept per class (its
  functions are defined once, when the class is).
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_applied = False
_key_lock = threading.Lock()


def apply() -> None:
    """Once per process, from ``moto_fidelity.apply`` (before any stack or client exists)."""
    global _applied
    if _applied:
        return
    _cache_asl_parses()
    _cache_json_paths()
    _share_botocore_loader()
    _lazy_unused_kms_keys()
    _cache_action_names()
    _applied = True


def _cache_asl_parses() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    original = AmazonStateLanguageParser.parse

    @functools.lru_cache(maxsize=64)
    def parse(definition: str) -> Any:
        return original(definition)  # an invalid definition raises: nothing is kept

    AmazonStateLanguageParser.parse = staticmethod(parse)  # type: ignore[method-assign, assignment]


def _share_botocore_loader() -> None:
    from botocore import loaders, session

    shared_loader = functools.cache(loaders.create_loader)  # one per data path (there is one)

    def register_data_loader(self: Any) -> None:
        self._components.lazy_register_component(
            "data_loader", lambda: shared_loader(self.get_config_variable("data_path"))
        )

    session.Session._register_data_loader = register_data_loader  # type: ignore[method-assign]


def _cache_action_names() -> None:
    from moto.core import responses

    original = responses.method_names_from_class
    names: dict[Any, frozenset[str]] = {}

    def method_names_from_class(clazz: object) -> frozenset[str]:
        found = names.get(clazz)
        if found is None:
            found = names[clazz] = frozenset(original(clazz))
        return found

    responses.method_names_from_class = method_names_from_class  # type: ignore[assignment]


def _cache_json_paths() -> None:
    from moto.stepfunctions.parser.asl.utils import json_path

    json_path.parse = functools.lru_cache(maxsize=1024)(json_path.parse)  # type: ignore[attr-defined]


class _KeyPairOnFirstUse:
    """moto's private key object for a key, generated when something first reads it."""

    def __init__(self, generate: Any, key_spec: str) -> None:
        self._generate, self._key_spec, self._key = generate, key_spec, None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # pickling and copying look up dunders: not the key's
            raise AttributeError(name)
        with _key_lock:
            if self._key is None:
                self._key = self._generate(self._key_spec)
        return getattr(self._key, name)


def _lazy_unused_kms_keys() -> None:
    from moto.kms import models

    original = models.generate_private_key

    def generate_private_key(key_spec: str) -> Any:
        if key_spec.startswith(("RSA_", "ECC_")):  # asymmetric: its pair is the key itself
            return original(key_spec)
        return _KeyPairOnFirstUse(original, key_spec)

    models.generate_private_key = generate_private_key
