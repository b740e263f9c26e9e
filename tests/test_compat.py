"""One test per private Keras/TensorFlow internal in :mod:`cam_keras.compat`: when a new Keras or
TensorFlow changes one, its test fails naming the change, before any user meets it."""

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from cam_keras import compat

VERSIONS = f"(Keras {keras.__version__}, TensorFlow {tf.__version__})"


def dense_graph():
    inputs = keras.Input((3,), name="x")
    dense = keras.layers.Dense(3, name="dense")
    first = dense(inputs)
    return inputs, dense, first, dense(first)


def test_keras_history_names_the_layer_call_that_made_a_tensor():
    inputs, dense, first, second = dense_graph()
    assert compat.producer(first) is dense, f"KerasTensor._keras_history no longer names the producing layer {VERSIONS}"
    assert compat.keras_history(first)[1:] == (0, 0), f"KerasTensor._keras_history's node index changed {VERSIONS}"
    assert compat.keras_history(second)[1] == 1, f"KerasTensor._keras_history no longer counts calls {VERSIONS}"
    assert isinstance(compat.producer(inputs), keras.layers.InputLayer), f"an Input's history changed {VERSIONS}"


def test_inbound_nodes_list_each_call_of_a_layer_with_its_inputs():
    inputs, dense, first, _ = dense_graph()
    node = compat.inbound_node(dense, 0)
    assert node.input_tensors[0] is inputs, f"Operation._inbound_nodes[i].input_tensors changed {VERSIONS}"
    assert compat.inbound_node(dense, -1) is not node, f"Operation._inbound_nodes lost a node per call {VERSIONS}"


def test_sublayers_finds_an_attention_layer_inside_a_custom_layer():
    class Block(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.inner = keras.Sequential([keras.layers.Dense(4)])
            self.attention = keras.layers.MultiHeadAttention(2, 2)

    found = compat.sublayers(Block())
    assert any(isinstance(each, keras.layers.MultiHeadAttention) for each in found), (
        f"Layer._flatten_layers no longer lists a layer's sublayers {VERSIONS}"
    )
    assert any(isinstance(each, keras.layers.Dense) for each in found), f"_flatten_layers stopped recursing {VERSIONS}"


def test_a_broken_internal_is_named_with_the_versions():
    with pytest.raises(compat.KerasInternalsChanged, match=r"Keras 3.* changed KerasTensor._keras_history"):
        compat.keras_history(np.zeros(2))


def test_a_model_forgets_its_strategy_inside_the_block_only():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    assert model.distribute_strategy is strategy
    with compat.strategy_forgotten(model):
        assert model.distribute_strategy is not strategy, (
            f"Model._distribute_strategy no longer decides the model's strategy (keras#20585 workaround) {VERSIONS}"
        )
    assert model.distribute_strategy is strategy


def test_op_determinism_can_be_queried_and_disabled():
    before = compat.op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    try:
        assert compat.op_determinism_enabled(), f"tensorflow.python.framework.config lost determinism {VERSIONS}"
        compat.disable_op_determinism()
        assert not compat.op_determinism_enabled(), f"disable_op_determinism no longer disables {VERSIONS}"
    finally:
        (tf.config.experimental.enable_op_determinism if before else compat.disable_op_determinism)()


@pytest.mark.parametrize("callback_class", list(compat.PATIENCE_COUNTERS))
def test_patience_callbacks_keep_their_counters_in_the_named_attributes(callback_class):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    callback = callback_class(monitor="val_loss", patience=5)
    callback.set_model(model)
    callback.on_train_begin()
    callback.on_epoch_end(0, {"val_loss": 1.0})
    callback.on_epoch_end(1, {"val_loss": 2.0})
    counters = {name: getattr(callback, name, "missing") for name in compat.PATIENCE_COUNTERS[callback_class]}
    assert "missing" not in counters.values(), f"{callback_class.__name__} renamed its counters {counters} {VERSIONS}"
    assert (counters["wait"], counters["best"]) == (1, 1.0), (
        f"{callback_class.__name__}'s wait/best no longer count epochs without improvement {VERSIONS}"
    )


def test_fit_opens_the_training_data_as_often_per_epoch_as_a_resume_replays():
    seen = []

    class Record(keras.layers.Layer):
        def call(self, x):
            if tf.executing_eagerly():
                seen.append(np.asarray(x)[:, 0].tolist())
            return x

    def data():
        numbers = tf.data.Dataset.range(8).map(lambda i: tf.cast([i], "float32"))
        return numbers.shuffle(8, seed=1, reshuffle_each_iteration=True).batch(8).map(lambda x: (x, x))

    def fit(dataset, epochs):
        seen.clear()
        inputs = keras.Input((1,))
        model = keras.Model(inputs, keras.layers.Dense(1)(Record()(inputs)))
        model.compile(keras.optimizers.SGD(0.0), "mse", run_eagerly=True)
        model.fit(dataset, epochs=epochs, shuffle=False, verbose=0)
        return list(seen)

    uninterrupted = fit(data(), 2)
    replayed = {}
    for opened in (compat.ITERATORS_PER_EPOCH - 1, compat.ITERATORS_PER_EPOCH, compat.ITERATORS_PER_EPOCH + 1):
        dataset = data()
        for _ in range(opened):
            iter(dataset)
        replayed[opened] = fit(dataset, 1)[0]
    assert uninterrupted[0] != uninterrupted[1]  # the data is reshuffled every epoch
    matching = [opened for opened, order in replayed.items() if order == uninterrupted[1]]
    assert matching == [compat.ITERATORS_PER_EPOCH], (
        f"Keras' fit now opens the training dataset {matching} times per epoch, not ITERATORS_PER_EPOCH = "
        f"{compat.ITERATORS_PER_EPOCH}: a resumed run would see other shuffles than an uninterrupted one {VERSIONS}"
    )


MULTIWORKER = textwrap.dedent(
    """
    import json
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer
    from cam_keras import compat

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    workers = compat.num_workers(tf.distribute.MultiWorkerMirroredStrategy())  # one worker: no TF_CONFIG
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    replica = lambda: tf.cast(tf.distribute.get_replica_context().replica_id_in_sync_group, "float32")  # noqa: E731
    values = {"m": mirrored.run(replica)}
    with compat.first_replica_metrics():
        first = float(trainer.reduce_per_replica(values, mirrored, "auto")["m"])
    mean = float(trainer.reduce_per_replica(values, mirrored, "auto")["m"])
    print(json.dumps({"workers": workers, "first": first, "mean after": mean}))
    """
)


@pytest.mark.slow  # a fresh Python that imports TensorFlow: ~6 CPU-s
def test_multiworker_internals_count_workers_and_reduce_metrics_to_the_first_replica():
    done = subprocess.run([sys.executable, "-c", MULTIWORKER], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"a multi-worker internal changed {VERSIONS}: {done.stderr[-1500:]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"workers": 1, "first": 0.0, "mean after": 0.5}, (
        f"strategy.extended._num_workers or keras' reduce_per_replica changed {VERSIONS}: {result}"
    )
