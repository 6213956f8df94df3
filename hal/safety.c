// safety.c: the safety filter (see safety.h): one allocation at construction, none per tick.
#include "hal/safety.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "hal/hal.h"

struct sp_safety {
  int nx, nu;
  double period_s, watchdog_s;
  int latch_faults;
  double* u_min;     // (nu)
  double* u_max;     // (nu)
  double* step_max;  // (nu) rate_max * period_s
  double* u_safe;    // (nu)
  double* u_prev;    // (nu) last command sent
  double* x_good;    // (nx) last finite state, for the safe behaviour
  sp_safe_fn safe_act;
  void* safe_user;
  int have_good;

  // control-thread state
  double t_last_new;     // loop time of the last new state
  int64_t t_state_last;  // plant timestamp of the last new state
  int have_state;
  int latched;  // a fault latched (latch_faults)

  // shared with other threads
  atomic_int estop;
  atomic_int clear_req;
  atomic_uint_fast64_t ticks, faults, clamped, rate_limited, safe_behaviour, safe_fallback;
  atomic_uint_fast64_t by_cause[SP_CAUSE_COUNT];
  atomic_int first_cause;
  _Atomic double first_fault_t;
};

static int all_finite(const double* v, int n) {
  for (int i = 0; i < n; i++)
    if (!isfinite(v[i])) return 0;
  return 1;
}

int sp_safety_new(sp_safety** out, const sp_safety_config* c, char* msg, size_t msglen) {
  if (!out) return SP_EINVAL;
  *out = NULL;
  if (!c) return sp_errorf(msg, msglen, SP_EINVAL, "safety: config is NULL");
  if (c->nu < 1 || c->nx < 0)
    return sp_errorf(msg, msglen, SP_EINVAL, "safety: expected nu >= 1 and nx >= 0, got %d, %d",
                     c->nu, c->nx);
  if (!c->u_safe) return sp_errorf(msg, msglen, SP_EINVAL, "safety: safe command is required");
  if (!(c->period_s > 0))
    return sp_errorf(msg, msglen, SP_EINVAL, "safety: period_s must be > 0, got %g", c->period_s);
  if (!(c->watchdog_s >= 0))
    return sp_errorf(msg, msglen, SP_EINVAL, "safety: watchdog_s must be >= 0, got %g",
                     c->watchdog_s);
  int nu = c->nu;
  for (int i = 0; i < nu; i++) {
    double lo = c->u_min ? c->u_min[i] : -INFINITY, hi = c->u_max ? c->u_max[i] : INFINITY;
    if (isnan(lo) || isnan(hi) || lo > hi)
      return sp_errorf(msg, msglen, SP_EINVAL, "safety: limits of channel %d are [%g, %g]", i, lo,
                       hi);
    if (!isfinite(c->u_safe[i]) || c->u_safe[i] < lo || c->u_safe[i] > hi)
      return sp_errorf(msg, msglen, SP_ERANGE,
                       "safety: safe command %g of channel %d is outside its limits [%g, %g]",
                       c->u_safe[i], i, lo, hi);
    if (c->rate_max && !(c->rate_max[i] > 0))
      return sp_errorf(msg, msglen, SP_EINVAL,
                       "safety: rate limit of channel %d must be > 0, got %g", i, c->rate_max[i]);
  }

  // one allocation: the struct followed by its six arrays
  size_t bytes = sizeof(sp_safety) + (5 * (size_t)nu + (size_t)c->nx) * sizeof(double);
  sp_safety* s = sp_calloc(1, bytes);
  if (!s) return sp_errorf(msg, msglen, SP_ENOMEM, "safety: out of memory");
  double* d = (double*)(s + 1);
  s->u_min = d;
  s->u_max = d + nu;
  s->step_max = d + 2 * nu;
  s->u_safe = d + 3 * nu;
  s->u_prev = d + 4 * nu;
  s->x_good = d + 5 * nu;
  s->safe_act = c->safe_act;
  s->safe_user = c->safe_user;
  s->nx = c->nx;
  s->nu = nu;
  s->period_s = c->period_s;
  s->watchdog_s = c->watchdog_s;
  s->latch_faults = c->latch_faults;
  for (int i = 0; i < nu; i++) {
    s->u_min[i] = c->u_min ? c->u_min[i] : -INFINITY;
    s->u_max[i] = c->u_max ? c->u_max[i] : INFINITY;
    s->step_max[i] = c->rate_max ? c->rate_max[i] * c->period_s : INFINITY;
    s->u_safe[i] = c->u_safe[i];
  }
  atomic_init(&s->estop, 0);
  atomic_init(&s->clear_req, 0);
  sp_safety_reset(s, 0.0);
  *out = s;
  return 0;
}

void sp_safety_free(sp_safety* s) {
  sp_free(s);
}

void sp_safety_reset(sp_safety* s, double t) {
  memcpy(s->u_prev, s->u_safe, (size_t)s->nu * sizeof(double));
  s->t_last_new = t;
  s->t_state_last = 0;
  s->have_state = 0;
  s->have_good = 0;
  atomic_store(&s->ticks, 0);
  atomic_store(&s->safe_behaviour, 0);
  atomic_store(&s->safe_fallback, 0);
  atomic_store(&s->faults, 0);
  atomic_store(&s->clamped, 0);
  atomic_store(&s->rate_limited, 0);
  for (int i = 0; i < SP_CAUSE_COUNT; i++) atomic_store(&s->by_cause[i], 0);
  atomic_store(&s->first_cause, SP_CAUSE_NONE);
  atomic_store(&s->first_fault_t, NAN);
}

static void bump(atomic_uint_fast64_t* c) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, memory_order_relaxed);
}

// the command a fault or hold sends: the safe behaviour's (clamped) or the constant one
static void safe_command(sp_safety* s, double* u, double t) {
  int nu = s->nu;
  if (s->safe_act && s->have_good) {
    if (s->safe_act(s->safe_user, u, s->x_good, t) == 0 && all_finite(u, nu)) {
      for (int i = 0; i < nu; i++) u[i] = fmin(fmax(u[i], s->u_min[i]), s->u_max[i]);
      bump(&s->safe_behaviour);
      return;
    }
    bump(&s->safe_fallback);
  }
  memcpy(u, s->u_safe, (size_t)nu * sizeof(double));
}

sp_safety_result sp_safety_tick(sp_safety* s, double* u_out, const sp_safety_input* in) {
  sp_safety_result r = {0, SP_CAUSE_NONE, 0};
  int nu = s->nu;
  bump(&s->ticks);

  // requests from other threads
  if (atomic_exchange(&s->clear_req, 0)) s->latched = 0;
  int estop = atomic_load(&s->estop);

  // state: new, finite?
  int nan_state = 0;
  if (in->x) {
    if (!s->have_state || in->t_state_ns > s->t_state_last) {
      r.state_new = 1;
      s->have_state = 1;
      s->t_state_last = in->t_state_ns;
    }
    if (!all_finite(in->x, s->nx)) {
      nan_state = 1;
      r.state_new = 0;
    }
    if (r.state_new) s->t_last_new = in->t;
    if (!nan_state && s->safe_act) {
      memcpy(s->x_good, in->x, (size_t)s->nx * sizeof(double));
      s->have_good = 1;
    }
  }
  int watchdog = s->watchdog_s > 0 && in->t - s->t_last_new > s->watchdog_s;
  // held (by the operator, or before the first state) there is no policy command to check
  int nan_cmd = !in->hold && !in->policy_error && (!in->u || !all_finite(in->u, nu));

  // flags for every condition present, the cause for the highest-priority one
  if (estop) r.flags |= SP_FLAG_ESTOP;
  if (watchdog) r.flags |= SP_FLAG_WATCHDOG;
  if (nan_state || nan_cmd) r.flags |= SP_FLAG_NAN;
  if (in->policy_error) r.flags |= SP_FLAG_POLICY_ERROR;
  r.cause = estop              ? SP_CAUSE_ESTOP
            : s->latched       ? SP_CAUSE_LATCHED
            : watchdog         ? SP_CAUSE_WATCHDOG
            : nan_state        ? SP_CAUSE_NAN_STATE
            : in->policy_error ? SP_CAUSE_POLICY_ERROR
            : nan_cmd          ? SP_CAUSE_NAN_COMMAND
                               : SP_CAUSE_NONE;

  // fault or hold: the safe command, this tick
  if (r.cause != SP_CAUSE_NONE || in->hold) {
    safe_command(s, u_out, in->t);
    memcpy(s->u_prev, u_out, (size_t)nu * sizeof(double));
    r.flags |= SP_FLAG_SAFE;
    if (in->hold) r.flags |= SP_FLAG_HELD;
    if (r.cause != SP_CAUSE_NONE) {
      if (s->latch_faults && r.cause != SP_CAUSE_ESTOP) s->latched = 1;
      bump(&s->faults);
      bump(&s->by_cause[r.cause]);
      int none = SP_CAUSE_NONE;
      if (atomic_compare_exchange_strong(&s->first_cause, &none, (int)r.cause))
        atomic_store(&s->first_fault_t, in->t);
    }
    return r;
  }

  // normal tick: rate limit against the last command sent, then clamp
  for (int i = 0; i < nu; i++) {
    double u = in->u[i];
    double lo = s->u_prev[i] - s->step_max[i], hi = s->u_prev[i] + s->step_max[i];
    if (u < lo || u > hi) {
      u = u < lo ? lo : hi;
      r.flags |= SP_FLAG_RATE_LIMITED;
    }
    if (u < s->u_min[i] || u > s->u_max[i]) {
      u = u < s->u_min[i] ? s->u_min[i] : s->u_max[i];
      r.flags |= SP_FLAG_CLAMPED;
    }
    u_out[i] = u;
    s->u_prev[i] = u;
  }
  if (r.flags & SP_FLAG_CLAMPED) bump(&s->clamped);
  if (r.flags & SP_FLAG_RATE_LIMITED) bump(&s->rate_limited);
  return r;
}

void sp_safety_estop(sp_safety* s) {
  atomic_store(&s->estop, 1);
}

void sp_safety_clear(sp_safety* s) {
  atomic_store(&s->estop, 0);
  atomic_store(&s->clear_req, 1);
}

int sp_safety_estopped(const sp_safety* s) {
  return atomic_load(&((sp_safety*)s)->estop);
}

void sp_safety_stats_get(const sp_safety* s, sp_safety_stats* out) {
  sp_safety* m = (sp_safety*)s;
  out->ticks = atomic_load(&m->ticks);
  out->faults = atomic_load(&m->faults);
  out->clamped = atomic_load(&m->clamped);
  out->rate_limited = atomic_load(&m->rate_limited);
  out->safe_behaviour = atomic_load(&m->safe_behaviour);
  out->safe_fallback = atomic_load(&m->safe_fallback);
  for (int i = 0; i < SP_CAUSE_COUNT; i++) out->by_cause[i] = atomic_load(&m->by_cause[i]);
  out->first_cause = atomic_load(&m->first_cause);
  out->first_fault_t = atomic_load(&m->first_fault_t);
}

const double* sp_safety_safe_command(const sp_safety* s) {
  return s->u_safe;
}

const char* sp_safety_cause_name(sp_safety_cause c) {
  switch (c) {
    case SP_CAUSE_NONE:
      return "none";
    case SP_CAUSE_ESTOP:
      return "estop";
    case SP_CAUSE_LATCHED:
      return "latched";
    case SP_CAUSE_WATCHDOG:
      return "watchdog";
    case SP_CAUSE_NAN_STATE:
      return "nan_state";
    case SP_CAUSE_POLICY_ERROR:
      return "policy_error";
    case SP_CAUSE_NAN_COMMAND:
      return "nan_command";
    case SP_CAUSE_COUNT:
      break;
  }
  return "unknown";
}
