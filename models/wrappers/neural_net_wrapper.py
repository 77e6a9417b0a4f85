"""PyTorch MLP regressor (the seed's SurvivorQualityNet), built to avoid the original's bugs.

- Inputs are standardised with the training rows' mean and standard deviation, and the
  scaler is saved inside the checkpoint: unscaled counts dominated the original's network.
- The target is standardised too and the output layer is linear (no sigmoid), so a label
  with a spread of 0.002 is learnable; predictions are mapped back to label units.
- Predictions and targets are both (N,) and this is asserted before every loss: (N, 1)
  against (N,) broadcast to an N x N loss in the original.
- Early stopping watches the validation loss and the weights of the best epoch are
  restored (the original kept the last epoch's).
- The checkpoint is a dict of tensors and plain numbers written with ``torch.save`` and read
  with ``torch.load(weights_only=True)``: no object is ever unpickled.
"""

import functools
import pickle  # only for its exception class: weights_only loading raises UnpicklingError
import zipfile

import numpy as np
import torch
from torch import nn

from models.wrappers.base import CONSTANT_TARGET_STD, BaseWrapper, load_error

CHECKPOINT_FORMAT = "seedsift.neural_net/1"
PREDICT_BATCH = 65536


@functools.lru_cache(maxsize=None)
def _probe_cuda():
    if not torch.cuda.is_available() or torch.cuda.device_count() < 1:
        return False, "torch sees no CUDA/ROCm device"
    return True, "ok"


def build_network(n_features, hidden_layers, dropout):
    """[Linear -> ReLU -> Dropout] per hidden layer, then Linear(1)."""
    layers, width = [], n_features
    for h in hidden_layers:
        layers += [nn.Linear(width, int(h)), nn.ReLU(), nn.Dropout(float(dropout))]
        width = int(h)
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def _spread(values):
    """Standard deviation with constant columns mapped to 1 (they are only centred)."""
    std = values.std(axis=0)
    return np.where(std < CONSTANT_TARGET_STD, 1.0, std)


class NeuralNetWrapper(BaseWrapper):
    """MLP regressor. Config keys: see ``DEFAULTS``."""

    model_type = "neural_net"
    DEFAULTS = {
        "hidden_layers": [64, 32],
        "dropout": 0.1,
        "learning_rate": 1e-3,
        "weight_decay": 1e-5,
        "batch_size": 256,
        "epochs": 100,
        "patience": 10,
        "min_delta": 1e-4,
        "optimizer": "adam",
        "loss": "mse",
        "seed": 0,
        "n_jobs": 1,
    }

    @staticmethod
    def _gpu_probe():
        return _probe_cuda()

    def _loss_fn(self, name):
        if name == "mse":
            return nn.MSELoss()
        if name == "huber":
            return nn.HuberLoss(delta=1.0)
        raise ValueError(f"neural_net loss {name!r} is not one of ['mse', 'huber']")

    def _optimizer(self, p, params):
        if p["optimizer"] == "adam":
            return torch.optim.Adam(params, lr=float(p["learning_rate"]), weight_decay=float(p["weight_decay"]))
        if p["optimizer"] == "adamw":
            return torch.optim.AdamW(params, lr=float(p["learning_rate"]), weight_decay=float(p["weight_decay"]))
        raise ValueError(f"neural_net optimizer {p['optimizer']!r} is not one of ['adam', 'adamw']")

    def _scaled(self, X):
        return torch.from_numpy(((X - self.x_mean_) / self.x_scale_).astype(np.float32)).to(self.device_)

    def _fit(self, X_train, y_train, X_val, y_val, p):
        hidden = [int(h) for h in p["hidden_layers"]]
        if not hidden or min(hidden) < 1:
            raise ValueError(f"neural_net hidden_layers {p['hidden_layers']!r} must be a non-empty list of positive widths")
        X64 = X_train.astype(np.float64)
        self.x_mean_ = X64.mean(axis=0)
        self.x_scale_ = _spread(X64)
        self.y_mean_ = float(y_train.mean())
        self.y_scale_ = float(_spread(y_train[:, None])[0])
        self.hidden_layers_ = hidden
        self.dropout_ = float(p["dropout"])
        device = torch.device(self.device_)
        threads = torch.get_num_threads()
        torch.set_num_threads(int(p["n_jobs"]))
        try:
            # A private RNG stream: the same seed gives the same network whatever else ran.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(p["seed"]))
                self._train(X_train, y_train, X_val, y_val, p, device)
        finally:
            torch.set_num_threads(threads)

    def _train(self, X_train, y_train, X_val, y_val, p, device):
        net = build_network(self.n_features_in_, self.hidden_layers_, self.dropout_).to(device)
        if self.constant_target_:
            # Nothing to learn: a zero output layer makes the prediction exactly y_mean_
            # instead of whatever noise a few epochs towards a constant would leave.
            with torch.no_grad():
                net[-1].weight.zero_()
                net[-1].bias.zero_()
            self.model_, self.best_iteration_, self.best_loss_, self.history_ = net.eval(), 0, 0.0, []
            return
        loss_fn = self._loss_fn(p["loss"])
        opt = self._optimizer(p, net.parameters())
        Xt = self._scaled(X_train)
        yt = torch.from_numpy(((y_train - self.y_mean_) / self.y_scale_).astype(np.float32)).to(device)
        if X_val is not None:
            Xv = self._scaled(X_val)
            yv = torch.from_numpy(((y_val - self.y_mean_) / self.y_scale_).astype(np.float32)).to(device)
        n, batch = Xt.shape[0], max(1, min(int(p["batch_size"]), Xt.shape[0]))
        gen = torch.Generator().manual_seed(int(p["seed"]))
        best_loss, best_state, best_epoch, waited = float("inf"), None, -1, 0
        self.history_ = []
        for epoch in range(int(p["epochs"])):
            net.train()
            total = 0.0
            for idx in torch.randperm(n, generator=gen).to(device).split(batch):
                pred = net(Xt[idx]).squeeze(1)
                target = yt[idx]
                if pred.shape != target.shape:
                    raise RuntimeError(f"prediction shape {tuple(pred.shape)} != target shape {tuple(target.shape)}")
                loss = loss_fn(pred, target)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * idx.shape[0]
            row = {"epoch": epoch, "train_loss": total / n}
            monitor = row["train_loss"]
            if X_val is not None:
                row["val_loss"] = self._eval_loss(net, loss_fn, Xv, yv)
                monitor = row["val_loss"]
            if not np.isfinite(monitor):
                raise RuntimeError(f"neural_net loss became {monitor} at epoch {epoch}: lower learning_rate")
            self.history_.append(row)
            if monitor < best_loss - float(p["min_delta"]) or best_state is None:
                best_loss, best_epoch, waited = monitor, epoch, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                waited += 1
                if waited >= int(p["patience"]):
                    break
        net.load_state_dict(best_state)
        net.eval()
        self.model_ = net
        self.best_iteration_ = best_epoch
        self.best_loss_ = best_loss

    @staticmethod
    def _eval_loss(net, loss_fn, X, y):
        net.eval()
        with torch.no_grad():
            total = 0.0
            for xb, yb in zip(X.split(PREDICT_BATCH), y.split(PREDICT_BATCH)):
                pred = net(xb).squeeze(1)
                if pred.shape != yb.shape:
                    raise RuntimeError(f"prediction shape {tuple(pred.shape)} != target shape {tuple(yb.shape)}")
                total += float(loss_fn(pred, yb)) * yb.shape[0]
        return total / X.shape[0]

    def _predict(self, X):
        self.model_.eval()
        out = []
        with torch.no_grad():
            for xb in self._scaled(X).split(PREDICT_BATCH):
                out.append(self.model_(xb).squeeze(1).double().cpu().numpy())
        return np.concatenate(out) * self.y_scale_ + self.y_mean_

    def _save(self, path):
        # Through a file object: torch names the archive's root folder after a file name given
        # as a path (here a random temp name), which would make equal models differ in bytes.
        with open(path, "wb") as fh:
            torch.save({
                "format": CHECKPOINT_FORMAT,
                "state_dict": {k: v.detach().cpu() for k, v in self.model_.state_dict().items()},
                "n_features": int(self.n_features_in_),
                "hidden_layers": [int(h) for h in self.hidden_layers_],
                "dropout": float(self.dropout_),
                "x_mean": torch.from_numpy(np.asarray(self.x_mean_, dtype=np.float64)),
                "x_scale": torch.from_numpy(np.asarray(self.x_scale_, dtype=np.float64)),
                "y_mean": float(self.y_mean_),
                "y_scale": float(self.y_scale_),
                "best_epoch": int(self.best_iteration_),
            }, fh)

    def _load(self, path):
        self._choose_device()
        if not zipfile.is_zipfile(path):
            raise load_error(path, self.model_type, ValueError("not a torch zip checkpoint"))
        try:
            # torch does not check the members' CRCs: damaged tensor bytes would load as weights.
            with zipfile.ZipFile(path) as archive:
                damaged = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise load_error(path, self.model_type, exc) from None
        if damaged is not None:
            raise load_error(path, self.model_type, ValueError(f"member {damaged} fails its CRC check"))
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, ValueError, EOFError, IndexError) as exc:
            raise load_error(path, self.model_type, exc) from None
        if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
            raise load_error(path, self.model_type, ValueError(f"checkpoint format is not {CHECKPOINT_FORMAT}"))
        try:
            self.n_features_in_ = int(ckpt["n_features"])
            self.hidden_layers_ = [int(h) for h in ckpt["hidden_layers"]]
            self.dropout_ = float(ckpt["dropout"])
            self.x_mean_ = ckpt["x_mean"].numpy()
            self.x_scale_ = ckpt["x_scale"].numpy()
            self.y_mean_ = float(ckpt["y_mean"])
            self.y_scale_ = float(ckpt["y_scale"])
            self.best_iteration_ = int(ckpt["best_epoch"])
            net = build_network(self.n_features_in_, self.hidden_layers_, self.dropout_)
            net.load_state_dict(ckpt["state_dict"], strict=True)
        except (KeyError, RuntimeError, TypeError, AttributeError) as exc:
            raise load_error(path, self.model_type, exc) from None
        self.model_ = net.to(self.device_).eval()
        self.history_ = []
        self.notes_ = []
