// crba.c: the composite rigid-body algorithm (Featherstone 2008, table 6.2) in world
// coordinates: composite inertias Ic_i = sum of the subtree's I, then M_kj = S_k . Ic S_j for j on
// the path from dof k to the root (the deeper link's composite), plus armature on the diagonal.
#include <string.h>

#include "engine/rbd/internal.h"
#include "engine/rbd/spatial.h"

// composite inertias in d->Ic from d->I (after fk)
void sp__rbd_composite(sp_rbd_data* d) {
  const sp_rbd* t = d->tree;
  memcpy(d->Ic, d->I, (size_t)(36 * t->nlinks) * sizeof *d->Ic);
  for (int i = t->nlinks - 1; i >= 0; i--) {
    int p = t->links[i].parent;
    if (p >= 0)
      for (int k = 0; k < 36; k++) d->Ic[36 * p + k] += d->Ic[36 * i + k];
  }
}

// M from the composite inertias (after sp__rbd_composite)
void sp__rbd_mass_matrix(sp_rbd_data* d, double* M) {
  const sp_rbd* t = d->tree;
  int nv = t->nv;
  memset(M, 0, (size_t)nv * (size_t)nv * sizeof *M);
  for (int k = 0; k < nv; k++) {
    const sp_rbd_link* l = &t->links[t->dof_link[k]];
    double F[6];
    sp_si_mulv(F, d->Ic + 36 * t->dof_link[k], d->S + 6 * k);
    // the columns of this link after k are filled by symmetry from their own rows
    for (int j = k; j >= 0; j = t->dof_parent[j]) {
      double m = sp_sv_dot(d->S + 6 * j, F);
      M[k * nv + j] = m;
      M[j * nv + k] = m;
    }
    M[k * nv + k] += l->armature;
  }
}

void sp_rbd_crba(double* M, sp_rbd_data* d, const double* q) {
  sp_rbd_fk(d, q);
  sp__rbd_composite(d);
  sp__rbd_mass_matrix(d, M);
}
