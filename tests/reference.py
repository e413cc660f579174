"""A plain NumPy reference for seqcore's recurrent layers: the test oracle.

Written from the equations of SPEC.md ("Math"), independently of the compiled
core, for clarity and nothing else: one sample at a time, one step at a time,
forward and hand-written backpropagation through time.  Never imports seqcore.

Layout, as in PyTorch and SPEC.md:

* X (B, T, I) batch first; ``lengths[b]`` steps of sample b are real, the
  rest is padding and is never read;
* parameters by name: ``weight_ih_l{k}[_reverse]`` (G*H, I_k),
  ``weight_hh_l{k}`` (G*H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (G*H,),
  ``weight_peep_l{k}`` (3, H) for the peephole LSTM, rows (p_i, p_f, p_o);
  gate order GRU (r, z, n), LSTM (i, f, g, o), MGU (f, n);
* the backward direction is the same scan over each sequence reversed within
  its own length; layer k+1 reads concat[forward, backward] of layer k;
* states (L*D, B, H), row k*D + d for layer k, direction d.

Everything is computed in float64, whatever the dtype of the arrays given.
"""

import numpy as np

GATES = {"rnn": 1, "gru": 3, "lstm": 4, "mgu": 2}


def sigmoid(a):
    """The logistic, split by sign so that exp never overflows."""
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class CellSpec:
    """Which cell and which variant: kind 'rnn' | 'gru' | 'lstm' | 'mgu'."""

    def __init__(self, kind, nonlinearity="tanh", reset_after=True, peephole=False,
                 proj_size=0):
        if kind not in GATES:
            raise NotImplementedError(f"the reference has no {kind!r} cell")
        self.kind = kind
        self.nonlinearity = nonlinearity
        self.reset_after = reset_after
        self.peephole = peephole and kind == "lstm"
        self.proj_size = proj_size if kind == "lstm" else 0
        self.options = dict(nonlinearity=nonlinearity, reset_after=reset_after,
                            peephole=peephole, proj_size=proj_size)

    @property
    def G(self):
        return GATES[self.kind]


# --------------------------------------------------------------------------
# One step, one sample: vectors x (I,), h (H,), c (H,) for the LSTM.
# p is the dict of one layer/direction: W_ih, W_hh, b_ih, b_hh[, peep].
# step_forward returns (h', c', cache); step_backward takes the gradients on
# h' and c', adds the parameter gradients into g and returns (dx, dh, dc).
# --------------------------------------------------------------------------

def step_forward(spec, p, x, h, c, h_in=None):
    """One step; ``h_in`` (default h) is what the hidden products read:
    ``h * mask`` under recurrent dropout (forward only: the backward below
    knows no mask)."""
    H = p["W_hh"].shape[0] // spec.G              # gate size (h may be projected)
    hp, h = h, (h if h_in is None else h_in)   # hp: the state the update reads
    if spec.kind == "rnn":
        a = p["W_ih"] @ x + p["b_ih"] + p["W_hh"] @ h + p["b_hh"]
        h_new = np.tanh(a) if spec.nonlinearity == "tanh" else np.maximum(a, 0.0)
        return h_new, None, dict(x=x, h=h, a=a, h_new=h_new)

    if spec.kind == "gru":
        W_ih, W_hh, b_ih, b_hh = p["W_ih"], p["W_hh"], p["b_ih"], p["b_hh"]
        r_, z_, n_ = slice(0, H), slice(H, 2 * H), slice(2 * H, 3 * H)
        gi = W_ih @ x + b_ih                                   # (3H,)
        r = sigmoid(gi[r_] + W_hh[r_] @ h + b_hh[r_])
        z = sigmoid(gi[z_] + W_hh[z_] @ h + b_hh[z_])
        if spec.reset_after:
            hn = W_hh[n_] @ h + b_hh[n_]                       # W_hn h + b_hn
            n = np.tanh(gi[n_] + r * hn)
            extra = hn
        else:
            rh = r * h
            n = np.tanh(gi[n_] + W_hh[n_] @ rh + b_hh[n_])
            extra = rh
        h_new = (1.0 - z) * n + z * hp
        return h_new, None, dict(x=x, h=h, r=r, z=z, n=n, extra=extra)

    if spec.kind == "mgu":
        W_hh, b_hh = p["W_hh"], p["b_hh"]
        f_, n_ = slice(0, H), slice(H, 2 * H)
        gi = p["W_ih"] @ x + p["b_ih"]                         # (2H,)
        f = sigmoid(gi[f_] + W_hh[f_] @ h + b_hh[f_])
        fh = f * h
        n = np.tanh(gi[n_] + W_hh[n_] @ fh + b_hh[n_])
        h_new = (1.0 - f) * hp + f * n
        return h_new, None, dict(x=x, h=h, f=f, n=n, fh=fh)

    if spec.kind != "lstm":
        raise NotImplementedError(f"the reference has no {spec.kind!r} cell")
    a = p["W_ih"] @ x + p["b_ih"] + p["W_hh"] @ h + p["b_hh"]  # (4H,)
    if spec.peephole:
        p_i, p_f, p_o = p["peep"]
    else:
        p_i = p_f = p_o = np.zeros(H)
    i = sigmoid(a[0:H] + p_i * c)
    f = sigmoid(a[H:2 * H] + p_f * c)
    g = np.tanh(a[2 * H:3 * H])
    c_new = f * c + i * g
    o = sigmoid(a[3 * H:4 * H] + p_o * c_new)
    tc = np.tanh(c_new)
    h_new = o * tc
    h_full = h_new
    if spec.proj_size:                          # h' = W_hr (o * tanh(c'))
        h_new = p["W_hr"] @ h_full
    return h_new, c_new, dict(x=x, h=h, c=c, i=i, f=f, g=g, o=o, h_full=h_full,
                              c_new=c_new, tc=tc, p_i=p_i, p_f=p_f, p_o=p_o)


def _add_linear_grads(p, g, da_x, da_h, x, h):
    """Gradients of W_ih x + b_ih + W_hh h + b_hh given the pre-activation
    gradients seen by the input side (da_x) and the hidden side (da_h)."""
    g["W_ih"] += np.outer(da_x, x)
    g["b_ih"] += da_x
    g["W_hh"] += np.outer(da_h, h)
    g["b_hh"] += da_h
    return p["W_ih"].T @ da_x, p["W_hh"].T @ da_h


def step_backward(spec, p, cache, dh_new, dc_new, g):
    x, h = cache["x"], cache["h"]
    H = p["W_hh"].shape[0] // spec.G
    if spec.kind == "rnn":
        if spec.nonlinearity == "tanh":
            da = dh_new * (1.0 - cache["h_new"] ** 2)
        else:
            da = dh_new * (cache["a"] > 0)
        dx, dh = _add_linear_grads(p, g, da, da, x, h)
        return dx, dh, None

    if spec.kind == "gru":
        r, z, n = cache["r"], cache["z"], cache["n"]
        W_hh = p["W_hh"]
        n_ = slice(2 * H, 3 * H)
        # h' = (1 - z) n + z h
        dn = dh_new * (1.0 - z)
        dz = dh_new * (h - n)
        dh = dh_new * z
        dan = dn * (1.0 - n ** 2)            # gradient on the argument of tanh
        daz = dz * z * (1.0 - z)
        if spec.reset_after:
            hn = cache["extra"]              # n = tanh(gi_n + r * hn)
            dr = dan * hn
            dar = dr * r * (1.0 - r)
            da_x = np.concatenate([dar, daz, dan])
            da_h = np.concatenate([dar, daz, dan * r])
            dx, dh_lin = _add_linear_grads(p, g, da_x, da_h, x, h)
            return dx, dh + dh_lin, None
        rh = cache["extra"]                  # n = tanh(gi_n + W_hn rh + b_hn)
        drh = W_hh[n_].T @ dan
        dr = drh * h
        dh = dh + drh * r
        dar = dr * r * (1.0 - r)
        da_x = np.concatenate([dar, daz, dan])
        g["W_ih"] += np.outer(da_x, x)
        g["b_ih"] += da_x
        g["W_hh"][:2 * H] += np.outer(np.concatenate([dar, daz]), h)
        g["W_hh"][n_] += np.outer(dan, rh)
        g["b_hh"] += da_x
        dx = p["W_ih"].T @ da_x
        dh = dh + W_hh[:2 * H].T @ np.concatenate([dar, daz])
        return dx, dh, None

    if spec.kind == "mgu":
        f, n, fh = cache["f"], cache["n"], cache["fh"]
        W_hh = p["W_hh"]
        f_, n_ = slice(0, H), slice(H, 2 * H)
        # h' = (1 - f) h + f n;  n = tanh(gi_n + W_hn (f h) + b_hn)
        dan = dh_new * f * (1.0 - n ** 2)
        dfh = W_hh[n_].T @ dan
        df = dh_new * (n - h) + dfh * h
        daf = df * f * (1.0 - f)
        da = np.concatenate([daf, dan])
        g["W_ih"] += np.outer(da, x)
        g["b_ih"] += da
        g["W_hh"][f_] += np.outer(daf, h)
        g["W_hh"][n_] += np.outer(dan, fh)
        g["b_hh"] += da
        dx = p["W_ih"].T @ da
        dh = dh_new * (1.0 - f) + dfh * f + W_hh[f_].T @ daf
        return dx, dh, None

    if spec.kind != "lstm":
        raise NotImplementedError(f"the reference has no {spec.kind!r} cell")
    c, i, f, gg, o = cache["c"], cache["i"], cache["f"], cache["g"], cache["o"]
    c_new, tc = cache["c_new"], cache["tc"]
    if spec.proj_size:                          # h' = W_hr h_full
        g["W_hr"] += np.outer(dh_new, cache["h_full"])
        dh_new = p["W_hr"].T @ dh_new
    # h' = o tanh(c'); o = sigma(a_o + p_o c')
    do = dh_new * tc
    dao = do * o * (1.0 - o)
    dc = dc_new + dh_new * o * (1.0 - tc ** 2) + dao * cache["p_o"]
    # c' = f c + i g; i = sigma(a_i + p_i c); f = sigma(a_f + p_f c)
    dai = dc * gg * i * (1.0 - i)
    daf = dc * c * f * (1.0 - f)
    dag = dc * i * (1.0 - gg ** 2)
    dc_prev = dc * f + dai * cache["p_i"] + daf * cache["p_f"]
    if spec.peephole:
        g["peep"][0] += dai * c
        g["peep"][1] += daf * c
        g["peep"][2] += dao * c_new
    da = np.concatenate([dai, daf, dag, dao])
    dx, dh = _add_linear_grads(p, g, da, da, x, h)
    return dx, dh, dc_prev


# --------------------------------------------------------------------------
# One sequence (its real steps only), one layer, one direction.
# --------------------------------------------------------------------------

def scan_forward(spec, p, xs, h0, c0, mask=None):
    """xs (n, I) -> hs (n, H), h_n, c_n, caches; ``mask`` (H,) multiplies the
    state every hidden product reads, the same at every step."""
    h, c = h0, c0
    hs, caches = [], []
    for x in xs:
        h, c, cache = step_forward(spec, p, x, h, c, None if mask is None else h * mask)
        hs.append(h)
        caches.append(cache)
    return np.array(hs), h, c, caches


def scan_backward(spec, p, caches, dhs, dh_n, dc_n, g):
    """dhs (n, H) on the outputs, dh_n/dc_n on the final state -> dxs, dh0, dc0."""
    dh, dc = dh_n.copy(), (dc_n.copy() if dc_n is not None else None)
    dxs = [None] * len(caches)
    for t in reversed(range(len(caches))):
        dx, dh, dc = step_backward(spec, p, caches[t], dh + dhs[t], dc, g)
        dxs[t] = dx
    return np.array(dxs), dh, dc


# --------------------------------------------------------------------------
# The stack: num_layers x num_directions scans over a padded batch.
# --------------------------------------------------------------------------

def param_shapes(spec, input_size, hidden_size, num_layers, bidirectional):
    """The parameter names and shapes of a stack, in PyTorch's names."""
    G, H, D = spec.G, hidden_size, 2 if bidirectional else 1
    out = {}
    for k in range(num_layers):
        I_k = input_size if k == 0 else D * H
        for d in range(D):
            sfx = f"_l{k}" + ("_reverse" if d else "")
            out[f"weight_ih{sfx}"] = (G * H, I_k)
            out[f"weight_hh{sfx}"] = (G * H, H)
            out[f"bias_ih{sfx}"] = (G * H,)
            out[f"bias_hh{sfx}"] = (G * H,)
            if spec.peephole:
                out[f"weight_peep{sfx}"] = (3, H)
    return out


class ReferenceStack:
    """forward/backward with the same signatures as seqcore.nn layers.

    ``params`` is a dict by PyTorch names (any float dtype: used as float64).
    """

    def __init__(self, spec, params, num_layers=1, bidirectional=False):
        self.spec = spec
        self.num_layers = num_layers
        self.D = 2 if bidirectional else 1
        self.params = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
        # P: the size of h (weight_hh's columns); H: of the gates and c
        self.P = self.params["weight_hh_l0"].shape[1]
        self.H = self.params["weight_hh_l0"].shape[0] // spec.G

    def _p(self, k, d):
        sfx = f"_l{k}" + ("_reverse" if d else "")
        p = {"W_ih": self.params[f"weight_ih{sfx}"],
             "W_hh": self.params[f"weight_hh{sfx}"],
             "b_ih": self.params[f"bias_ih{sfx}"],
             "b_hh": self.params[f"bias_hh{sfx}"]}
        if self.spec.peephole:
            p["peep"] = self.params[f"weight_peep{sfx}"]
        if self.spec.proj_size:
            p["W_hr"] = self.params[f"weight_hr{sfx}"]
        return p, sfx

    def forward(self, X, lengths=None, initial_state=None, masks=None):
        """``masks``: recurrent dropout, {(layer, direction): (B, H)} (forward only)."""
        X = np.asarray(X, dtype=np.float64)
        B, T, _ = X.shape
        L, D, H, P = self.num_layers, self.D, self.H, self.P
        lstm = self.spec.kind == "lstm"
        lengths = np.full(B, T) if lengths is None else np.asarray(lengths)
        if initial_state is None:
            h0 = np.zeros((L * D, B, P))
            c0 = np.zeros((L * D, B, H)) if lstm else None
        elif lstm:
            h0, c0 = (np.asarray(s, dtype=np.float64) for s in initial_state)
        else:
            h0, c0 = np.asarray(initial_state, dtype=np.float64), None

        h_n = np.zeros((L * D, B, P))
        c_n = np.zeros((L * D, B, H)) if lstm else None
        inp = X
        self._tape = []   # per layer: (inputs, {(d, b): caches})
        for k in range(L):
            out = np.zeros((B, T, D * P))
            caches = {}
            for d in range(D):
                p, _ = self._p(k, d)
                for b in range(B):
                    n = lengths[b]
                    xs = inp[b, :n]
                    if d:
                        xs = xs[::-1]           # reversed within its own length
                    mask = None if masks is None else masks[k, d][b]
                    hs, hN, cN, caches[d, b] = scan_forward(
                        self.spec, p, xs, h0[k * D + d, b],
                        c0[k * D + d, b] if lstm else None, mask)
                    out[b, :n, d * P:(d + 1) * P] = hs[::-1] if d else hs
                    h_n[k * D + d, b] = hN
                    if lstm:
                        c_n[k * D + d, b] = cN
            self._tape.append(caches)
            inp = out
        self._lengths, self._shape = lengths, X.shape
        if lstm:
            return inp, (h_n, c_n)
        return inp, h_n

    def backward(self, d_outputs, d_state=None):
        B, T, I = self._shape
        L, D, H, P = self.num_layers, self.D, self.H, self.P
        lstm = self.spec.kind == "lstm"
        lengths = self._lengths
        zeros = np.zeros((L * D, B, P))
        zeros_c = np.zeros((L * D, B, H))
        if d_state is None:
            dh_n, dc_n = zeros, (zeros_c if lstm else None)
        elif lstm:
            dh_n, dc_n = (z if s is None else np.asarray(s, dtype=np.float64)
                          for s, z in zip(d_state, (zeros, zeros_c)))
        else:
            dh_n, dc_n = np.asarray(d_state, dtype=np.float64), None
        d_out = (np.zeros((B, T, D * P)) if d_outputs is None
                 else np.asarray(d_outputs, dtype=np.float64))

        grads = {name: np.zeros_like(v) for name, v in self.params.items()}
        d_h0 = np.zeros((L * D, B, P))
        d_c0 = np.zeros((L * D, B, H)) if lstm else None
        for k in reversed(range(L)):
            I_k = I if k == 0 else D * P
            d_in = np.zeros((B, T, I_k))
            for d in range(D):
                p, sfx = self._p(k, d)
                g = {"W_ih": grads[f"weight_ih{sfx}"], "W_hh": grads[f"weight_hh{sfx}"],
                     "b_ih": grads[f"bias_ih{sfx}"], "b_hh": grads[f"bias_hh{sfx}"]}
                if self.spec.peephole:
                    g["peep"] = grads[f"weight_peep{sfx}"]
                if self.spec.proj_size:
                    g["W_hr"] = grads[f"weight_hr{sfx}"]
                for b in range(B):
                    n = lengths[b]
                    dhs = d_out[b, :n, d * P:(d + 1) * P]
                    if d:
                        dhs = dhs[::-1]
                    dxs, dh0, dc0 = scan_backward(
                        self.spec, p, self._tape[k][d, b], dhs,
                        dh_n[k * D + d, b], dc_n[k * D + d, b] if lstm else None, g)
                    d_in[b, :n] += dxs[::-1] if d else dxs
                    d_h0[k * D + d, b] = dh0
                    if lstm:
                        d_c0[k * D + d, b] = dc0
            d_out = d_in
        self.grads = grads
        if lstm:
            return d_out, (d_h0, d_c0)
        return d_out, d_h0
