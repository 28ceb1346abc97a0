"""Loss history of one data set over the epochs, stored as the toolkit's process monitor stores it.

The state dict (`loss_mat` [epochs, utterances, losses], `time_mat`, `epoch_num`, `seq_num`,
`cur_epoch`, `best_error`, `best_epoch`, `loss_flag`) is what the toolkit's epoch files hold under
`train_log` / `val_log`, so histories carry over between the two in both directions. The best
epoch is judged as the toolkit judges it: the sum over utterances of the losses flagged for early
stopping.
"""
from __future__ import annotations

import numpy as np


class HistoryError(ValueError):
    """A stored history that does not fit this run's data."""


class History:
    def __init__(self, epoch_num: int, seq_num: int):
        self.epoch_num, self.seq_num = epoch_num, seq_num
        self.loss_mat = np.zeros([epoch_num, seq_num, 1])
        self.time_mat = np.zeros([epoch_num, seq_num])
        self.cur_epoch = 0
        self.best_error = None
        self.best_epoch = None
        self.loss_flag = None
        self.resumed = False
        self.last_seen = 0             # utterances the last epoch ran (--minibatch-num-* run fewer)
        self._rows: list = []          # (indices, losses, seconds per utterance) of the running epoch

    # -- per batch: a list append only; the matrix is filled once per epoch
    def add(self, indices, losses: list[float], flags, seconds: float) -> None:
        self._rows.append((indices, losses, seconds / max(1, len(indices))))
        self.loss_flag = list(flags)

    def end_epoch(self, epoch: int) -> None:
        rows, self._rows = self._rows, []
        if rows:
            width = len(rows[-1][1])
            if self.loss_mat.shape[2] != width:
                self.loss_mat = np.resize(self.loss_mat, [self.epoch_num, self.seq_num, width])
            self.last_seen = len({int(i) for indices, _, _ in rows for i in indices})
            for indices, losses, secs in rows:
                for i in indices:
                    self.loss_mat[epoch, int(i), :] = losses
                    self.time_mat[epoch, int(i)] = secs
        self.cur_epoch = epoch

    # -- per epoch
    def loss(self, epoch: int) -> np.ndarray:
        """Mean over utterances of each loss term."""
        return np.mean(self.loss_mat[epoch], axis=0)

    def shown_loss(self, epoch: int) -> np.ndarray:
        """The loss to print for the epoch just run: the mean over the utterances it ran (the
        toolkit scales by the same factor after --minibatch-num-train/-val)."""
        loss = self.loss(epoch)
        if epoch == self.cur_epoch and 0 < self.last_seen < self.seq_num:
            return loss * (self.seq_num / self.last_seen)
        return loss

    def seconds(self, epoch: int) -> float:
        return float(np.sum(self.time_mat[epoch]))

    def stopping_loss(self, epoch: int) -> float:
        per_term = np.sum(self.loss_mat[epoch], axis=0)
        if self.loss_flag is not None and len(self.loss_flag) == len(per_term):
            return np.sum(per_term * np.asarray(self.loss_flag, dtype=float))
        return np.sum(per_term)

    def is_new_best(self) -> bool:
        """Whether the current epoch beats every earlier one (and then remember it)."""
        loss = self.stopping_loss(self.cur_epoch)
        if self.best_error is None or loss < self.best_error:
            self.best_error, self.best_epoch = loss, self.cur_epoch
            return True
        return False

    def should_stop(self, patience: int) -> bool:
        return self.best_epoch is not None and self.cur_epoch - self.best_epoch >= patience

    def curve(self, upto: int) -> list[float]:
        """Per-epoch summed-term mean loss for epochs 0..upto (for the plot)."""
        return [float(np.sum(self.loss(e))) for e in range(upto + 1)]

    # -- toolkit-compatible state
    def state_dict(self) -> dict:
        return {"loss_mat": self.loss_mat, "time_mat": self.time_mat, "epoch_num": self.epoch_num,
                "seq_num": self.seq_num, "cur_epoch": self.cur_epoch, "best_error": self.best_error,
                "best_epoch": self.best_epoch, "loss_flag": self.loss_flag}

    def load_state_dict(self, state: dict, what: str) -> None:
        """Continue a stored history; the next epoch to run is then :attr:`next_epoch`."""
        try:
            if state["seq_num"] != self.seq_num:
                raise HistoryError(
                    f"{what}: the checkpoint's history has {state['seq_num']} utterances, this data "
                    f"has {self.seq_num}; use the same data, or --ignore-training-history-in-trained-model")
            stored = np.asarray(state["loss_mat"])
            if state["epoch_num"] == self.epoch_num:
                self.loss_mat = stored.copy()
                self.time_mat = np.asarray(state["time_mat"]).copy()
            else:   # --epochs changed: keep what was run, in a matrix of the new length
                n = min(stored.shape[0], self.epoch_num)
                self.loss_mat = np.zeros([self.epoch_num, self.seq_num, stored.shape[2]])
                self.loss_mat[:n] = stored[:n]
                self.time_mat[:n] = np.asarray(state["time_mat"])[:n]
            self.cur_epoch = int(state["cur_epoch"])
            self.best_error, self.best_epoch = state["best_error"], state["best_epoch"]
            self.loss_flag = state["loss_flag"]
            self.resumed = True
        except KeyError as e:
            raise HistoryError(f"{what}: the checkpoint's history has no {e.args[0]!r}") from None

    @property
    def next_epoch(self) -> int:
        return self.cur_epoch + 1 if self.resumed else 0
