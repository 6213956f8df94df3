// mlp_impl.h: MLP forward and backward written once for a REAL type (included by mlp.c).
//
// Expects REAL and SFX(name). Activations a[l] live in m->work at m->act_off[l]; the two scratch
// blocks after them carry gradients backwards, alternating layer by layer.

// run the net on x (batch x nin); x may already be a[0]
static void SFX(forward)(sp_mlp* m, const REAL* x, int batch) {
  REAL* work = m->work;
  const REAL* P = m->params;
  REAL* a0 = work + m->act_off[0];
  if (x != a0) memcpy(a0, x, (size_t)batch * m->nin * sizeof(REAL));
  for (int l = 0; l < m->nlayers; l++) {
    const sp_layer* ly = &m->layers[l];
    REAL* in = work + m->act_off[l];
    REAL* out = work + m->act_off[l + 1];
    SFX(sp_linear_forward)(out, in, P + ly->w, P + ly->b, batch, ly->nin, ly->nout);
    SFX(sp_act_forward)(ly->act, out, out, (size_t)batch * ly->nout);
  }
  m->batch = batch;
}

// backpropagate gy (batch x nout; may be the first scratch block) through the last forward,
// accumulating into grads. Input gradients go to gx, or to a scratch block when gx is NULL and
// want_gx is set; returns where they went (NULL when not wanted).
static REAL* SFX(backward)(sp_mlp* m, REAL* gx, const REAL* gy, int want_gx) {
  REAL* work = m->work;
  const REAL* P = m->params;
  REAL* G = m->grads;
  int batch = m->batch;
  REAL* s0 = work + m->act_off[m->nlayers + 1];
  REAL* s1 = s0 + (size_t)m->max_batch * m->max_width;
  REAL* g = s0;
  if (gy != s0) memcpy(s0, gy, (size_t)batch * m->nout * sizeof(REAL));
  for (int l = m->nlayers - 1; l >= 0; l--) {
    const sp_layer* ly = &m->layers[l];
    REAL* free_block = g == s0 ? s1 : s0;
    REAL* gin = l > 0 ? free_block : gx ? gx : want_gx ? free_block : NULL;
    // through the activation (in place), then the affine map
    SFX(sp_act_backward)(ly->act, g, g, work + m->act_off[l + 1], (size_t)batch * ly->nout);
    SFX(sp_linear_backward)
    (gin, G + ly->w, G + ly->b, g, work + m->act_off[l], P + ly->w, batch, ly->nin, ly->nout);
    g = gin;
  }
  return g;
}
