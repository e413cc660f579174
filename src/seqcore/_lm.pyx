"""The compiled parts of ``seqcore.text.RNNLanguageModel``: the softmax
cross-entropy over the vocabulary with its gradient, and token-by-token
generation.

Softmax cross-entropy (``softmax_nll``): a language model's loss reads one
row of V logits per token.  One pass per row: the row's maximum, then
``e_k = exp(z_k - max)`` once (kept in dZ), their sum, the loss ``log(sum) -
(z_y - max)``, and ``dZ = scale * (e / sum - onehot(y))``.  One exponential
per logit (``seqcore._losses.softmax_cross_entropy`` takes two, and
weights), in the rows' own precision (``expf`` for float32); sums in double.

Generation (``generate``): sampling runs one step at a time (each token is
fed back as the next input), so a layer's ``forward`` per step would spend
its time in Python.  ``generate`` runs the whole loop here, without the GIL,
for one sequence:

* the prefix ids are fed in turn (forced), then each step samples a token
  from the softmax of the output layer's logits and feeds it back;
* feeding token v: ``x = emb[v]`` (E,); for each layer l, ``gates = x @
  W_ih.T`` (the bias comes in the cell kernel), then the cell's one-step
  kernel ``seqcore._cells.cell_forward`` on one row (its hidden product on
  the packed ``W_hh`` of ``_recurrent.pack_hidden``, as in the time loop);
  ``x`` becomes the layer's new ``h``;
* logits ``z = h @ W_out.T + b_out`` (V,);
* sampling: ids with ``allowed[v] == 0`` (the reserved padding and unknown
  ids) are never drawn; with ``0 < top_k < allowed ids`` only the top_k
  largest logits stay (ties to the lower id); ``p ~ exp((z - max z) /
  temperature)`` over the candidates; the token is the first candidate, in
  id order, whose cumulative p exceeds ``u * sum p``, with ``u`` the step's
  uniform number in [0, 1) drawn by the caller (NumPy's Generator): the
  results depend on the seed only.

Buffers (V vocabulary, E embedding, H hidden, G gates, GH = G * H, L
layers): each layer's state in two halves used in turn (the kernel reads the
previous state while writing the new one); ``gates``, ``work`` (GH,),
``aux`` (H,); the logits (V,).  The products are plain loops over rows of
the transposed weights (``x @ W.T`` as a sum of rows ``x[i] * W.T[i]``,
which vectorise without reassociating a sum), on the calling thread only:
results do not depend on any thread count.

The first token with no prefix: there is no input to predict it from, so the
caller passes ``first_logits`` (the model uses the log-frequencies of the
training tokens), sampled like any other step.
"""

from cython cimport floating
from libc.math cimport exp, expf, log, isfinite
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset

from seqcore._cells cimport CellSpec, kernel_layout, cell_forward, packed_size
from seqcore._checks cimport check_shape

import numpy as np


cdef inline floating exp_(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


def softmax_nll(const floating[:, ::1] Z, const Py_ssize_t[::1] y, double scale,
                floating[:, ::1] dZ):
    """``scale * sum_i (logsumexp(Z_i) - Z_i[y_i])`` over the rows of Z (N, V);
    writes ``dZ_i = scale * (softmax(Z_i) - onehot(y_i))`` unless dZ has no
    rows (scoring only)."""
    cdef Py_ssize_t N = Z.shape[0], V = Z.shape[1], i, k
    cdef bint grad = dZ.shape[0] > 0
    cdef double total = 0, s, inv
    cdef floating zmax, e
    check_shape("softmax_nll", "y", y.shape, (N,), "N from Z")
    if grad:
        check_shape("softmax_nll", "dZ", dZ.shape, (N, V), "(N, V) from Z")
    for i in range(N):   # an index out of range would read outside Z
        if not 0 <= y[i] < V:
            raise ValueError(f"softmax_nll: target {y[i]} of row {i} is outside [0, {V})")
    if V == 0:
        raise ValueError("softmax_nll: Z has no columns")
    with nogil:
        for i in range(N):
            zmax = Z[i, 0]
            for k in range(1, V):
                if Z[i, k] > zmax:
                    zmax = Z[i, k]
            s = 0
            if grad:
                for k in range(V):
                    e = exp_(Z[i, k] - zmax)
                    dZ[i, k] = e
                    s += e
            else:
                for k in range(V):
                    s += exp_(Z[i, k] - zmax)
            total += log(s) - (Z[i, y[i]] - zmax)
            if grad:
                inv = scale / s
                for k in range(V):
                    dZ[i, k] = <floating> (dZ[i, k] * inv)
                dZ[i, y[i]] = <floating> (dZ[i, y[i]] - scale)
    return scale * total


cdef struct Step:
    CellSpec s
    Py_ssize_t I          # input size of the layer
    const void* WxT       # (I, GH): W_ih transposed
    const void* W_hh      # (GH, H)
    const void* bias      # (GH,): b_ih + b_hh, folded as the time loop folds it
    const void* b_sep     # (H,): the separate hidden bias block, or NULL
    const void* extra     # (rows, H): extra weights (peepholes), or NULL
    void* h               # (2, H): the state, two halves used in turn
    void* c               # (2, H) for two-state kinds, else NULL


cdef const void* _address(arr, bint empty_is_null=False):
    """The data pointer of a C-contiguous NumPy array (checked by the caller)."""
    if empty_is_null and arr.size == 0:
        return NULL
    return <const void*> <size_t> arr.__array_interface__["data"][0]


cdef void feed(Step* steps, Py_ssize_t L, const floating* x, int cur,
               floating* gates, floating* work, floating* aux) noexcept nogil:
    """Run every layer one step on input ``x``: the state moves from half
    ``cur`` of each layer's buffers to half ``1 - cur``."""
    cdef Py_ssize_t l, i, j, GH, H
    cdef const floating* row
    cdef floating xi
    cdef floating* h_prev
    cdef floating* h
    cdef floating* c_prev
    cdef floating* c
    cdef Step* st
    for l in range(L):
        st = &steps[l]
        H = st.s.H
        GH = st.s.G * H
        # gates = x @ W_ih.T   (GH,) = (I,)(I, GH), summed row by row of W_ih.T
        memset(gates, 0, GH * sizeof(floating))
        for i in range(st.I):
            xi = x[i]
            row = <const floating*> st.WxT + i * GH
            for j in range(GH):
                gates[j] += xi * row[j]
        h_prev = <floating*> st.h + cur * H
        h = <floating*> st.h + (1 - cur) * H
        c_prev = c = NULL
        if st.c != NULL:
            c_prev = <floating*> st.c + cur * H
            c = <floating*> st.c + (1 - cur) * H
        cell_forward(&st.s, 1, gates, h_prev, h_prev, h, c_prev, c, aux, work,
                     <const floating*> st.W_hh, <const floating*> st.bias,
                     <const floating*> st.b_sep, <const floating*> st.extra)
        x = h


cdef void logits(const floating* h, Py_ssize_t H, const floating* WoT, const floating* bo,
                 Py_ssize_t V, floating* zf, double* z) noexcept nogil:
    """z = h @ W_out.T + b_out   (V,) = (H,)(H, V), summed row by row of W_out.T."""
    cdef Py_ssize_t j, k
    cdef floating hj
    cdef const floating* row
    memcpy(zf, bo, V * sizeof(floating))
    for j in range(H):
        hj = h[j]
        row = WoT + j * V
        for k in range(V):
            zf[k] += hj * row[k]
    for k in range(V):
        z[k] = zf[k]


cdef Py_ssize_t draw(double* z, Py_ssize_t V, const unsigned char* allowed,
                     Py_ssize_t n_allowed, unsigned char* chosen, Py_ssize_t top_k,
                     double inv_t, double u) noexcept nogil:
    """One token from softmax(z / temperature) over the candidates (z is
    overwritten); see the module's notes."""
    cdef Py_ssize_t v, r, best, last = -1
    cdef double m, total = 0, acc = 0, target
    if 0 < top_k < n_allowed:
        memset(chosen, 0, V)
        for r in range(top_k):
            best = -1
            for v in range(V):
                if allowed[v] and not chosen[v] and (best < 0 or z[v] > z[best]):
                    best = v
            chosen[best] = 1
    else:
        memcpy(chosen, allowed, V)
    m = -1e308
    for v in range(V):
        if chosen[v] and z[v] > m:
            m = z[v]
    for v in range(V):
        if chosen[v]:
            z[v] = exp((z[v] - m) * inv_t)
            total += z[v]
    target = u * total
    for v in range(V):
        if chosen[v]:
            acc += z[v]
            last = v
            if acc > target:
                return v
    return last   # rounding left the target past the sum: the last candidate


def generate(const floating[:, ::1] emb, const floating[:, ::1] head_WT,
             const floating[::1] head_b, list layers, int kind, int flags,
             const Py_ssize_t[::1] forced, const double[::1] first_logits,
             const double[::1] u, double temperature, Py_ssize_t top_k,
             const unsigned char[::1] allowed):
    """Feed ``forced`` ids, then sample ``len(u)`` ids; returns them (intp).

    Parameters
    ----------
    emb : (V, E) embedding table
    head_WT : (H, V) the output layer's weight, transposed;  head_b : (V,)
    layers : list of tuples (W_ih.T (I, GH), W_hh (GH, H), packed W_hh rows
        that read h, packed gated rows (or empty), folded bias (GH,),
        separate bias block (H,) or empty, extra weights (rows, H) or
        empty), one per layer, I = E for the first and H after
    kind, flags : the cell kind and its option bits (``nn.CELLS``)
    forced : the prefix ids, each in [0, V)
    first_logits : (V,) used for the first token when ``forced`` is empty
    u : (n,) uniform numbers in [0, 1), one per sampled token
    temperature : > 0;  top_k : 0 for all candidates
    allowed : (V,) 1 for ids that may be drawn
    """
    cdef Py_ssize_t V = emb.shape[0], E = emb.shape[1], L = len(layers)
    cdef Py_ssize_t n_new = u.shape[0], n_forced = forced.shape[0]
    cdef Py_ssize_t H, GH = 0, i, l, tok, n_allowed = 0, n_out = 0, pending = -1
    cdef str fn = "generate"
    cdef CellSpec spec
    cdef bint dbl = floating is double
    if L < 1:
        raise ValueError("generate: no layers")
    if not (temperature > 0 and isfinite(temperature)):
        raise ValueError(f"generate: temperature must be a finite number > 0, got {temperature}")
    check_shape(fn, "allowed", allowed.shape, (V,), "V from emb")
    check_shape(fn, "head_b", head_b.shape, (V,), "V from emb")
    for i in range(V):
        n_allowed += allowed[i] != 0
    if n_new and n_allowed == 0:
        raise ValueError("generate: no token may be drawn (allowed is all 0)")
    for i in range(n_forced):
        if not 0 <= forced[i] < V:
            raise ValueError(f"generate: forced id {forced[i]} is outside [0, {V})")
    for i in range(n_new):
        if not 0 <= u[i] < 1:
            raise ValueError(f"generate: u[{i}] = {u[i]} is outside [0, 1)")
    if n_forced == 0 and n_new > 0:
        check_shape(fn, "first_logits", first_logits.shape, (V,), "V from emb")

    dtype = np.float64 if dbl else np.float32
    keep = []      # the arrays whose memory the loop reads
    cdef Step* steps = <Step*> malloc(L * sizeof(Step))
    if steps == NULL:
        raise MemoryError()
    try:
        memset(steps, 0, L * sizeof(Step))
        I = E
        for l in range(L):
            WxT, W_hh, Wf, Wf2, bias, b_sep, extra = layers[l]
            arrays = [np.ascontiguousarray(a) for a in (WxT, W_hh, Wf, Wf2, bias, b_sep, extra)]
            for a in arrays:
                if a.dtype != dtype:
                    raise TypeError(f"generate: layer {l} has a {a.dtype} array, the "
                                    f"embedding is {np.dtype(dtype)}")
            WxT, W_hh, Wf, Wf2, bias, b_sep, extra = arrays
            if W_hh.ndim != 2 or W_hh.shape[1] == 0 or W_hh.shape[0] % W_hh.shape[1]:
                raise ValueError(f"generate: W_hh of layer {l} must be (G*H, H), got "
                                 f"{W_hh.shape}")
            H = W_hh.shape[1]
            spec.H = H
            if kernel_layout(kind, flags, &spec) < 0:   # the kind's needs, and split
                raise ValueError(f"generate: unknown cell kind {kind}")
            spec.P = H   # the language model's layers have no projection: h has H entries
            GH = spec.G * H
            of = f"layer {l}: I from the layer below, G from kind, H from W_hh"
            if W_hh.shape != (GH, H):
                raise ValueError(f"generate: W_hh of layer {l} has shape {W_hh.shape}, "
                                 f"expected {(GH, H)} ({of})")
            if WxT.shape != (I, GH):
                raise ValueError(f"generate: W_ih.T of layer {l} has shape {WxT.shape}, "
                                 f"expected {(I, GH)} ({of})")
            if bias.shape != (GH,):
                raise ValueError(f"generate: bias of layer {l} has shape {bias.shape}, "
                                 f"expected {(GH,)}")
            if spec.separate_bias >= 0 and b_sep.shape != (H,):
                raise ValueError(f"generate: the separate bias of layer {l} has shape "
                                 f"{b_sep.shape}, expected {(H,)}")
            if spec.extra_rows and extra.shape != (spec.extra_rows, H):
                raise ValueError(f"generate: the extra weights of layer {l} have shape "
                                 f"{extra.shape}, expected {(spec.extra_rows, H)}")
            if Wf.ndim != 1 or Wf.shape[0] < <Py_ssize_t> packed_size(H, spec.split, dbl):
                raise ValueError(f"generate: the packed W_hh of layer {l} is too short")
            if spec.split < GH and (Wf2.ndim != 1 or Wf2.shape[0] < <Py_ssize_t> packed_size(
                    H, GH - spec.split, dbl)):
                raise ValueError(f"generate: the packed gated rows of layer {l} are too short")
            state = np.zeros((spec.n_states, 2, H), dtype)   # [h, c] x two halves
            keep += arrays + [state]
            spec.Wf = _address(Wf)
            spec.Wf2 = _address(Wf2, True) if spec.split < GH else NULL
            spec.Wb = spec.Wb2 = NULL
            steps[l].s = spec
            steps[l].I = I
            steps[l].WxT = _address(WxT)
            steps[l].W_hh = _address(W_hh)
            steps[l].bias = _address(bias)
            steps[l].b_sep = _address(b_sep) if spec.separate_bias >= 0 else NULL
            steps[l].extra = _address(extra) if spec.extra_rows else NULL
            steps[l].h = <void*> _address(state[0])
            steps[l].c = <void*> _address(state[1]) if spec.n_states == 2 else NULL
            I = H
        check_shape(fn, "head_WT", head_WT.shape, (I, V), "H from the last layer, V from emb")
        return _run(steps, L, emb, head_WT, head_b, forced, first_logits, u,
                    1.0 / temperature, top_k, allowed, n_allowed, GH_max(steps, L))
    finally:
        free(steps)


cdef object _run(Step* steps, Py_ssize_t L, const floating[:, ::1] emb,
                 const floating[:, ::1] WoT, const floating[::1] bo,
                 const Py_ssize_t[::1] forced, const double[::1] first_logits,
                 const double[::1] u, double inv_t, Py_ssize_t top_k,
                 const unsigned char[::1] allowed, Py_ssize_t n_allowed, Py_ssize_t GH):
    cdef Py_ssize_t V = emb.shape[0], E = emb.shape[1], H = WoT.shape[0]
    cdef Py_ssize_t n_new = u.shape[0], n_forced = forced.shape[0]
    cdef Py_ssize_t i, tok, pending = -1, n_out = 0
    cdef int cur = 0
    dtype = np.float32 if floating is float else np.float64
    out = np.empty(n_new, np.intp)
    cdef Py_ssize_t[::1] out_v = out
    gates_a, work_a, zf_a = np.empty(GH, dtype), np.empty(GH, dtype), np.empty(V, dtype)
    aux_a = np.empty(max(H, max_hidden(steps, L)), dtype)
    z_a = np.empty(V, np.float64)
    chosen_a = np.empty(V, np.uint8)
    cdef floating[::1] gates = gates_a, work = work_a, aux = aux_a, zf = zf_a
    cdef double[::1] z = z_a
    cdef unsigned char[::1] chosen = chosen_a
    with nogil:
        if n_new > 0 and n_forced == 0:
            memcpy(&z[0], &first_logits[0], V * sizeof(double))
            tok = draw(&z[0], V, &allowed[0], n_allowed, &chosen[0], top_k, inv_t, u[0])
            out_v[0] = tok
            n_out = 1
            pending = tok
        for i in range(n_forced):
            feed(steps, L, &emb[forced[i], 0], cur, &gates[0], &work[0], &aux[0])
            cur = 1 - cur
        while n_out < n_new:
            if pending >= 0:
                feed(steps, L, &emb[pending, 0], cur, &gates[0], &work[0], &aux[0])
                cur = 1 - cur
            # the last layer's state, now in half ``cur``
            logits(<const floating*> steps[L - 1].h + cur * H, H, &WoT[0, 0], &bo[0], V,
                   &zf[0], &z[0])
            tok = draw(&z[0], V, &allowed[0], n_allowed, &chosen[0], top_k, inv_t, u[n_out])
            out_v[n_out] = tok
            n_out += 1
            pending = tok
    return out


cdef Py_ssize_t max_hidden(Step* steps, Py_ssize_t L):
    cdef Py_ssize_t l, m = 0
    for l in range(L):
        m = max(m, steps[l].s.H)
    return m


cdef Py_ssize_t GH_max(Step* steps, Py_ssize_t L):
    cdef Py_ssize_t l, m = 0
    for l in range(L):
        m = max(m, steps[l].s.G * steps[l].s.H)
    return m
