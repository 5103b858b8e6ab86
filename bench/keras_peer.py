"""Keras peer for the bench's model rows (bench/keras.ts runs it; needs tensorflow-cpu, e.g. in .venv).

--architecture lstm: model M0, window T, F channels, LSTM(H) -> RepeatVector(T) ->
LSTM(H, return_sequences) -> TimeDistributed(Dense(F)), measured as ../shared/bench/keras_m0.py
measures it.
--architecture conv: aemon's convolutional autoencoder (src/model/conv.ts, buildConvModel) at the
same T, H and F, layer for layer: per encoder level a stride-1 'same' Conv1D (ReLU) and a
MaxPooling1D of size 1 and stride 2 (aemon's stride 2; Conv1D(strides=2) would centre the kernel
one step later and do half the work); per decoder level UpSampling1D(2), a crop of the overshoot
at the last one, and a Conv1D (ReLU); then a linear Conv1D to F channels.

Both use MSE and Adam and print one JSON line: scoring windows/s (a compiled call on a batch of B
windows giving each window's mean squared error, read back) and training windows/s (model.fit,
batch 64, 2 epochs of 2048 windows after a warm-up epoch), with the model's parameter count and
its Conv1D layers as name:filters:kernel:strides, the form aemon's expectedConvLayers uses.
Usage: python3 bench/keras_peer.py [--architecture lstm|conv] [--channels F] [--batch B] [--threads N]
"""
import argparse
import json
import math
import time

ap = argparse.ArgumentParser()
ap.add_argument("--architecture", choices=["lstm", "conv"], default="lstm")
ap.add_argument("--channels", type=int, default=1)
ap.add_argument("--window", type=int, default=64)
ap.add_argument("--units", type=int, default=32)
ap.add_argument("--batch", type=int, default=256)
ap.add_argument("--threads", type=int, default=0)
a = ap.parse_args()

import numpy as np
import tensorflow as tf

if a.threads:
    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(a.threads)
from tensorflow import keras

L = keras.layers
T, F, H = a.window, a.channels, a.units


def conv_shape(window, units):
    """src/model/conv.ts convShape: levels, kernel size and the encoder's filters per level."""
    levels = min(2, max(1, math.floor(math.log2(window / 4))))
    kernel = min(7, max(3, 2 * (window // 8) + 1))
    filters = [units * 2 ** (levels - 1 - i) for i in range(levels)]
    return levels, kernel, filters


def lstm_model():
    inp = keras.Input((T, F))
    z = L.LSTM(H)(inp)
    y = L.RepeatVector(T)(z)
    y = L.LSTM(H, return_sequences=True)(y)
    return keras.Model(inp, L.TimeDistributed(L.Dense(F))(y))


def conv_model():
    levels, kernel, filters = conv_shape(T, H)

    def conv(name, size, activation):
        return L.Conv1D(size, kernel, padding="same", activation=activation, name=name)

    inp = keras.Input((T, F), name="window")
    h = inp
    steps = T
    for i in range(levels):
        h = conv(f"encoder_{i + 1}", filters[i], "relu")(h)
        h = L.MaxPooling1D(pool_size=1, strides=2, padding="valid", name=f"encoder_{i + 1}_stride")(h)
        steps = math.ceil(steps / 2)
    for i in reversed(range(levels)):
        h = L.UpSampling1D(2, name=f"decoder_{i + 1}_up")(h)
        steps *= 2
        if i == 0 and steps > T:
            h = L.Cropping1D((0, steps - T), name="decoder_crop")(h)
            steps = T
        h = conv(f"decoder_{i + 1}", filters[i], "relu")(h)
    return keras.Model(inp, conv("reconstruction", F, "linear")(h))


def conv_layers(model):
    return [
        f"{l.name}:{l.filters}:{'x'.join(map(str, l.kernel_size))}:{'x'.join(map(str, l.strides))}"
        for l in model.layers
        if isinstance(l, L.Conv1D)
    ]


m = conv_model() if a.architecture == "conv" else lstm_model()
m.compile(optimizer="adam", loss="mse")
x = np.random.randn(a.batch, T, F).astype("float32")
call = tf.function(lambda v: tf.reduce_mean(tf.square(m(v, training=False) - v), axis=[1, 2]))
call(x).numpy()
reps = 20
t0 = time.perf_counter()
for _ in range(reps):
    call(x).numpy()
inf = a.batch * reps / (time.perf_counter() - t0)
xt = np.random.randn(2048, T, F).astype("float32")
m.fit(xt, xt, epochs=1, batch_size=64, verbose=0)
t0 = time.perf_counter()
m.fit(xt, xt, epochs=2, batch_size=64, verbose=0)
tr = 2 * 2048 / (time.perf_counter() - t0)
print(
    json.dumps(
        {
            "engine": f"keras {keras.__version__} / tensorflow {tf.__version__}",
            "architecture": a.architecture,
            "T": T,
            "F": F,
            "H": H,
            "batch": a.batch,
            "threads": a.threads or "all",
            "parameters": m.count_params(),
            "conv_layers": conv_layers(m),
            "infer_windows_per_s": round(inf),
            "train_windows_per_s": round(tr),
        }
    )
)
