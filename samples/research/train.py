"""A tiny CPU experiment for `fieldkit research`: a numpy MLP on a generated two-spirals set.

Runs in about a second and prints `val_loss: <value>` (lower is better) as its last line.
The hyperparameters below are what a proposer is meant to change.
"""

import numpy as np

LEARNING_RATE = 0.05
EPOCHS = 60
HIDDEN = 8
BATCH = 64
WEIGHT_DECAY = 0.0
SEED = 0


def spirals(n, rng):
    t = np.sqrt(rng.random(n)) * 3 * np.pi
    label = rng.integers(0, 2, n)
    angle = t + label * np.pi
    x = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1) / (3 * np.pi)
    return x + rng.normal(0, 0.03, x.shape), label.astype(np.float64)


def main():
    data_rng = np.random.default_rng(1234)  # the dataset never changes between trials
    x_train, y_train = spirals(2000, data_rng)
    x_val, y_val = spirals(1000, data_rng)
    rng = np.random.default_rng(SEED)
    w1 = rng.normal(0, 1.0, (2, HIDDEN))
    b1 = np.zeros(HIDDEN)
    w2 = rng.normal(0, 1.0 / np.sqrt(HIDDEN), HIDDEN)
    b2 = 0.0
    for _ in range(EPOCHS):
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), BATCH):
            idx = order[start : start + BATCH]
            x, y = x_train[idx], y_train[idx]
            h = np.tanh(x @ w1 + b1)
            p = 1 / (1 + np.exp(-(h @ w2 + b2)))
            g = (p - y) / len(y)
            gh = np.outer(g, w2) * (1 - h**2)
            w2 -= LEARNING_RATE * (h.T @ g + WEIGHT_DECAY * w2)
            b2 -= LEARNING_RATE * g.sum()
            w1 -= LEARNING_RATE * (x.T @ gh + WEIGHT_DECAY * w1)
            b1 -= LEARNING_RATE * gh.sum(axis=0)
    h = np.tanh(x_val @ w1 + b1)
    p = np.clip(1 / (1 + np.exp(-(h @ w2 + b2))), 1e-7, 1 - 1e-7)
    loss = -np.mean(y_val * np.log(p) + (1 - y_val) * np.log(1 - p))
    accuracy = np.mean((p > 0.5) == y_val)
    print(f"val_accuracy: {accuracy:.4f}")
    print(f"val_loss: {loss:.6f}")


if __name__ == "__main__":
    main()
