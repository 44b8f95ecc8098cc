"""The CPU stages' ONNX Runtime sessions sleep between ops (no spinning on cores another stage needs)."""

from __future__ import annotations

import onnxruntime as ort
from onnx import TensorProto, helper

from pipelines.ort_options import cpu_session_options
from pipelines.voice.sovits_onnx.runtime import session

SPIN = "session.intra_op.allow_spinning"


def _identity_model(path):
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    path.write_bytes(model.SerializeToString())
    return path


def test_options_set_threads_and_no_spinning():
    so = cpu_session_options(ort, 3)
    assert so.intra_op_num_threads == 3 and so.inter_op_num_threads == 1
    assert so.get_session_config_entry(SPIN) == "0"
    assert so.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert cpu_session_options(ort, 0).intra_op_num_threads == 0  # ONNX Runtime's own choice


def test_the_sovits_sessions_use_them(tmp_path):
    sess = session(_identity_model(tmp_path / "m.onnx"), threads=2)
    opts = sess.get_session_options()
    assert opts.get_session_config_entry(SPIN) == "0" and opts.intra_op_num_threads == 2
