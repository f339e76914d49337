"""``llmops patch`` semantics: JSON merge patch (RFC 7386) and JSON patch (RFC 6902), as oc patch."""

from __future__ import annotations

import json

import pytest

from llmops.engine.patch import PatchError, apply, changed_pointers

OBJ = {
    "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
    "metadata": {"name": "x", "namespace": "ns", "labels": {"a": "1"}},
    "spec": {"predictor": {"minReplicas": 1, "model": {"args": ["--max-model-len=8192"]}}},
    "status": {"ready": True},
}  # fmt: skip


def test_merge_patch_merges_objects_replaces_lists_and_deletes_nulls() -> None:
    out = apply(
        OBJ,
        "merge",
        '{"metadata": {"labels": {"a": null, "b": "2"}}, '
        '"spec": {"predictor": {"model": {"args": ["--max-num-seqs=8"]}}}}',
    )
    assert out["metadata"]["labels"] == {"b": "2"}
    assert out["spec"]["predictor"] == {"minReplicas": 1, "model": {"args": ["--max-num-seqs=8"]}}
    assert changed_pointers(OBJ, out) == [
        "/metadata/labels/a",
        "/metadata/labels/b",
        "/spec/predictor/model/args",
    ]


def test_json_patch_operations_apply_in_order() -> None:
    ops = json.dumps([
        {"op": "add", "path": "/spec/predictor/model/args/-", "value": "--max-num-seqs=8"},
        {"op": "replace", "path": "/spec/predictor/minReplicas", "value": 2},
        {"op": "test", "path": "/metadata/name", "value": "x"},
    ])  # fmt: skip
    out = apply(OBJ, "json", ops)
    assert out["spec"]["predictor"]["model"]["args"] == ["--max-model-len=8192", "--max-num-seqs=8"]
    assert out["spec"]["predictor"]["minReplicas"] == 2


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("merge", "{not json", "the patch is not valid JSON"),
        ("merge", '{"status": {"ready": false}}', "status is written by the engine"),
        ("merge", '{"metadata": {"name": "y"}}', "metadata.name cannot be patched"),
        ("json", '{"op": "add"}', "a JSON patch is a list of operations"),
        ("json", '[{"op": "remove", "path": "/spec/nothing"}]', "remove: path /spec/nothing does not exist"),
        ("json", '[{"op": "test", "path": "/metadata/name", "value": "z"}]', "test failed at /metadata/name"),
        ("strategic", "{}", "unknown patch type 'strategic'"),
    ],
)
def test_bad_patches_are_one_clear_message(kind: str, text: str, message: str) -> None:
    with pytest.raises(PatchError, match="^" + message.replace("(", r"\(")):
        apply(OBJ, kind, text)
