"""Small specs, one lowering feature each: for test_keras_lowering.py and the Keras-on-torch check of
test_keras_save_and_train.py."""

from __future__ import annotations

from typing import Any


def spec(network: list[Any], shape: list[int] | None = None) -> dict[str, Any]:
    return {"archc": 1, "name": "case", "input": {"shape": shape or [3, 9, 8]}, "network": network}


def conv(out: int, kernel: Any = 3, **extra: Any) -> dict[str, Any]:
    return {"conv": {"out": out, "kernel": kernel, **extra}}


CASES: dict[str, dict[str, Any]] = {
    # torch pads max pools with -inf: conv outputs are negative too, so zero padding would be wrong here
    "maxpool_padded_negative_input": spec([conv(4), {"maxpool": {"kernel": 3, "stride": 2, "padding": 1}}]),
    "maxpool_padded_uneven": spec([conv(4, bias=True), {"maxpool": {"kernel": [3, 2], "stride": [2, 1],
                                                                    "padding": [1, 1]}}]),
    "maxpool_same": spec([conv(4), {"maxpool": {"kernel": 3, "stride": 1, "padding": 1}}]),
    "maxpool_after_relu": spec([conv(4), "relu", {"maxpool": {"kernel": 3, "stride": 2, "padding": 1}}]),
    "maxpool_unpadded": spec([conv(4), {"maxpool": {"kernel": 2}}]),
    "avgpool_padded": spec([conv(4), {"avgpool": {"kernel": 3, "stride": 2, "padding": 1}}]),
    "conv_strided_padded": spec([conv(6, stride=2, padding=1), conv(6, kernel=[3, 1], padding=[1, 0])]),
    "conv_even_kernel": spec([conv(4, kernel=2, padding=1), conv(4, kernel=4, padding=2, stride=3)]),
    "conv_grouped_dilated_strided": spec([conv(8, groups=1), conv(8, groups=4, dilation=2, stride=2, padding=2)],
                                         [3, 13, 12]),
    "conv_inits": spec([conv(4, init="xavier_uniform", bias_init=0.5), conv(4, init="kaiming_uniform"),
                        conv(4, init="xavier_normal", bias_init="zeros"), conv(4, init="kaiming_normal_fan_out")]),
    "flatten_channel_major": spec([conv(3), "flatten", {"linear": {"out": 5}}], [3, 4, 5]),
    "channel_pad": spec([{"residual": {"body": [conv(9, stride=2), {"bn": {}}], "shortcut": "zero_pad"}}],
                        [4, 9, 7]),
    "se_broadcast_mul": spec([conv(16), {"se": {"reduction": 4}}]),
    "highway_conv": spec([conv(8), {"highway": {"body": [conv(8), "relu"]}}]),
    "highway_projection": spec([conv(8), {"highway": {"body": [conv(6), "relu"], "gate": {"bias": -2}}}]),
    "activations": spec([conv(6), "gelu", conv(6), {"gelu": {"approximate": "tanh"}}, conv(6), "silu", conv(6),
                         "tanh", conv(6), "sigmoid", conv(6), "relu6", conv(6), {"leaky_relu": {"negative_slope": 0.2}},
                         conv(6), "softmax"]),
    "global_pools": spec([conv(6), {"name": "gmax", "global_maxpool": {"keepdims": False}},
                          {"name": "avg", "global_avgpool": {"keepdims": False}, "from": "c2"},
                          {"name": "cat", "concat": {}, "from": ["gmax", "avg"]}, {"linear": {"out": 3}}]),
    "merges": spec([{"name": "a", "conv": {"out": 4, "kernel": 1}},
                    {"name": "b", "conv": {"out": 4, "kernel": 3}, "from": "input"},
                    {"name": "c", "concat": {}, "from": ["a", "b"]},
                    {"name": "d", "sub": {}, "from": ["a", "b"]},
                    {"name": "e", "add": {}, "from": ["a", "b", "a"]},
                    {"name": "f", "mul": {}, "from": ["d", "e"]},
                    {"name": "g", "concat": {}, "from": ["f", "c", "f"]},
                    "identity", {"dropout": {"p": 0.3}}, {"global_avgpool": {}}, "flatten"]),
    "features_input": spec([{"linear": {"out": 12}}, {"bn": {"eps": 1e-3, "momentum": 0.3}}, "relu",
                            {"dropout": {"p": 0.5}}, {"highway": {"body": [{"linear": {"out": 12}}, "relu"]}},
                            {"linear": {"out": 4, "bias": False}}, "softmax"], [20]),
}
# the global_pools case reads the first conv by its automatic name
CASES["global_pools"]["network"][0] = {"name": "c2", **conv(6)}

# the ops of the modern residual families (issue 13)
CASES.update({
    "hard_activations": spec([conv(6), "hardswish", conv(6), "hardsigmoid"]),
    "drop_path": spec([conv(6), {"drop_path": {"rate": 0.2}}, {"global_avgpool": {"keepdims": False}},
                       {"drop_path": {"rate": 0.5}}, {"drop_path": {"rate": 0.0}}]),
    "split_and_shuffle": spec([conv(8, kernel=1), {"split": {"chunks": 2}}, {"name": "b", **conv(4)},
                               {"name": "cat", "concat": {}, "from": ["split.0", "b"]},
                               {"channel_shuffle": {"groups": 2}}, {"name": "s", "split": {"chunks": 4}},
                               {"concat": {}, "from": ["s.3", "s.1"]}, {"global_avgpool": {"keepdims": False}},
                               {"split": {}}]),
    "channel_mean_max": spec([{"name": "x", **conv(6)}, {"name": "avg", "channel_mean": {}},
                              {"name": "max", "channel_max": {}, "from": "x"},
                              {"concat": {}, "from": ["avg", "max"]}, conv(1, kernel=7),
                              {"name": "gate", "sigmoid": {}}, {"mul": {}, "from": ["x", "gate"]}]),
    "adaptive_pools_uneven": spec([{"name": "c", **conv(4)}, {"name": "a", "adaptive_avgpool": {"size": 4}},
                                   {"name": "m", "adaptive_maxpool": {"size": [2, 3]}, "from": "c"},
                                   {"name": "up", "adaptive_avgpool": {"size": [7, 7]}, "from": "m"}]),
    "adaptive_pools": spec([{"name": "c", **conv(4)}, {"name": "a", "adaptive_avgpool": {"size": [3, 4]}},
                            {"name": "m", "adaptive_maxpool": {"size": [1, 2]}, "from": "c"}], [3, 9, 8]),
    "pool_ceil_mode": spec([conv(4), {"maxpool": {"kernel": 3, "stride": 2, "ceil_mode": True}},
                            {"avgpool": {"kernel": 2, "stride": 2, "ceil_mode": True, "count_include_pad": False}},
                            {"avgpool": {"kernel": 3, "stride": 1, "padding": 1, "count_include_pad": False}}],
                           [3, 11, 9]),
    "se_hard_gate": spec([conv(16), {"se": {"squeeze": 4, "activation": "hardswish", "gate": "hardsigmoid"}}]),
})
# ECA and CBAM, the templates of specs/attention/blocks.yaml
CASES["attention_templates"] = {**spec([{"name": "eca", "eca": {}}, {"name": "cbam", "cbam": {}}], [32, 7, 7]),
                                "extends": "attention/blocks"}
# every transformer op once (issue 13's gap): a 7x7 grid, windows padded to 8x8 and shifted, an odd patch merging
CASES["transformer_ops"] = spec([{"name": "patches", **conv(8, kernel=4, stride=4)}, {"to_tokens": {}},
                                 {"name": "windows", "window_attention": {"heads": 2, "window": 4, "shift": 2}},
                                 {"name": "merge", "patch_merging": {}}, {"name": "class_token", "class_token": {}},
                                 {"name": "pos_embedding", "pos_embedding": {"init": {"normal": {"std": 1.0}}}},
                                 {"name": "attention", "attention": {"heads": 2}}, {"name": "pool", "token_mean": {}},
                                 {"linear": {"out": 5}}], [1, 28, 28])
