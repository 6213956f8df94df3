// mlp_impl.h: MLP forward and backward written once for a REAL type (included by mlp.c).
//
// Expects REAL and SFX(name). Activations a[l] live in ws->data at ws->off[l]; the two scratch
// blocks after them carry gradients backwards, alternating layer by layer.

// run the net on x (batch x nin); x may already be a[0]
static void SFX(forward)(const sp_mlp* m, sp_mlp_work* ws, const REAL* x, int batch) {
  REAL* work = ws->data;
  const REAL* P = m->params;
  REAL* a0 = work + ws->off[0];
  if (x != a0) memcpy(a0, x, (size_t)batch * m->nin * sizeof(REAL));
  for (int l = 0; l < m->nlayers; l++) {
    const sp_layer* ly = &m->layers[l];
    REAL* in = work + ws->off[l];
    REAL* out = work + ws->off[l + 1];
    SFX(sp_linear_forward)(out, in, P + ly->w, P + ly->b, batch, ly->nin, ly->nout);
    SFX(sp_act_forward)(ly->act, out, out, (size_t)batch * ly->nout);
  }
  ws->batch = batch;
}

// backpropagate gy (batch x nout; may be the first scratch block) through the pass in ws,
// accumulating into grads when params is set. Input gradients go to gx, or to a scratch block
// when gx is NULL and want_gx is set; returns where they went (NULL when not wanted).
static REAL* SFX(backward)(sp_mlp* m, sp_mlp_work* ws, REAL* gx, const REAL* gy, int want_gx,
                           int params) {
  REAL* work = ws->data;
  const REAL* P = m->params;
  REAL* G = params ? m->grads : NULL;
  int batch = ws->batch;
  REAL* s0 = work + ws->off[m->nlayers + 1];
  REAL* s1 = s0 + (size_t)ws->max_batch * m->max_width;
  REAL* g = s0;
  if (gy != s0) memcpy(s0, gy, (size_t)batch * m->nout * sizeof(REAL));
  for (int l = m->nlayers - 1; l >= 0; l--) {
    const sp_layer* ly = &m->layers[l];
    REAL* free_block = g == s0 ? s1 : s0;
    REAL* gin = l > 0 ? free_block : gx ? gx : want_gx ? free_block : NULL;
    // through the activation (in place) with the bias gradient in the same pass, then the
    // affine map's weights and input
    REAL* gW = G ? G + ly->w : NULL;
    REAL* gb = G ? G + ly->b : NULL;
    SFX(sp_act_backward_rows)(ly->act, g, gb, work + ws->off[l + 1], batch, ly->nout);
    const REAL* in = work + ws->off[l];
    SFX(sp_linear_backward)(gin, gW, NULL, g, in, P + ly->w, batch, ly->nin, ly->nout);
    g = gin;
  }
  return g;
}
