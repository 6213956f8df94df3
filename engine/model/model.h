// model.h: differentiable dynamics models, registered by name, stepped by a chosen integrator.
//
// A model class gives continuous-time dynamics xdot = f(x, u; p) and its exact Jacobians with
// respect to x, u and p. sp_model turns that into the discrete map the rest of spinal uses,
//   x[k+1] = step(x[k], u[k]; p)      (dt, integrator, sub-steps chosen per model instance)
// with exact step Jacobians A = dstep/dx, B = dstep/du, P = dstep/dp obtained by differentiating
// the integrator itself (not by re-linearising), and the backward (vector-Jacobian) form used by
// the gradient estimators. Classes that are natively discrete-time (given as a map, not an ODE)
// set `discrete` and their f/f_jac define the map x+ = f(x, u; p) directly (dt is still passed).
//
// Classes register by name so robot files select them as { model = "unicycle_accel", ... }.
//
// Description and workspace (as sp_rbd / sp_rbd_data, MuJoCo's mjModel / mjData). An sp_model is
// the read-only description: class, parameters, dt, integrator. Every evaluation takes it const
// together with a caller-owned workspace (sp_model_data) holding the integrator's scratch, so one
// model serves any number of threads at once, each with its own workspace. Only sp_model_new and
// sp_model_data_new allocate; f, f_jac, step, step_jac and step_vjp never do. Changing a model
// (sp_model_configure, sp_model_set_param, writing m->p) must not overlap its evaluations.
#ifndef SP_MODEL_MODEL_H
#define SP_MODEL_MODEL_H

#include <stddef.h>

#include "engine/core/error.h"  // SP_OK, SP_E* returned below
#include "engine/core/export.h"

SP_API_BEGIN

typedef struct sp_model sp_model;
typedef struct sp_model_data sp_model_data;

typedef enum sp_integrator {
  SP_INTEGRATOR_EULER = 0,  // x + dt f(x, u)
  SP_INTEGRATOR_RK4 = 1,    // classical 4-stage Runge-Kutta
} sp_integrator;

typedef struct sp_model_class {
  const char* name;            // registry key, e.g. "unicycle_accel"
  const char* doc;             // one line: what it models and where the equations come from
  int nx, nu, np;              // state, action and parameter sizes
  const char* const* x_names;  // (nx)
  const char* const* u_names;  // (nu)
  const char* const* p_names;  // (np)
  const double* p_default;     // (np)
  int discrete;                // 1: f is the discrete map itself; integrator, substeps ignored
  // dynamics: xdot (nx) from x (nx), u (nu), p (np); m gives access to dt and user data
  void (*f)(const sp_model* m, double* xdot, const double* x, const double* u, const double* p);
  // Jacobians of f, row-major: fx (nx x nx), fu (nx x nu), fp (nx x np); fu and fp may be NULL
  // (not wanted), fx never is. f_jac writes every entry of each matrix it is given, zeros too.
  void (*f_jac)(const sp_model* m, double* fx, double* fu, double* fp, const double* x,
                const double* u, const double* p);
} sp_model_class;

struct sp_model {
  const sp_model_class* cls;
  int nx, nu, np;
  double* p;     // (np) parameters, owned; edit directly or via sp_model_set_param
  double dt;     // step length in seconds
  int substeps;  // integrator sub-steps per step (>= 1), each of length dt / substeps
  sp_integrator integrator;
  void* user;  // class-specific data (e.g. a Lua-defined model's state), may be NULL
};

// Scratch for one evaluation at a time of a model of its sizes (nx, nu, np).
struct sp_model_data {
  const sp_model* model;  // the model it was made for (any model of the same sizes may use it)
  int nx, nu, np;
  double* work;  // integrator stages and sensitivities
};

// Registry. Built-in classes are registered on first use; sp_model_register adds user classes
// (the class must outlive every model made from it). Returns SP_EINVAL on a duplicate name or an
// invalid class (no name, nx < 1, NULL f or f_jac, missing names or defaults), SP_ERANGE when the
// registry (128 classes) is full. The registry is thread-safe; sp_model_find returns NULL for an
// unknown name.
int sp_model_register(const sp_model_class* cls);
const sp_model_class* sp_model_find(const char* name);
// Fill names (up to n) with registered class names; returns the total number registered.
int sp_model_list(const char** names, int n);

// Create an instance of a registered class. p may be NULL (defaults). dt > 0. A new instance
// integrates with RK4, one sub-step. SP_ENOTFOUND for an unknown name, SP_EINVAL for a NULL out or
// class, an invalid class, or dt not positive and finite; SP_ENOMEM. *out is NULL on failure.
int sp_model_new(sp_model** out, const char* name, const double* p, double dt);
int sp_model_new_class(sp_model** out, const sp_model_class* cls, const double* p, double dt);
void sp_model_free(sp_model* m);  // NULL is a no-op

// A workspace for models of m's sizes; SP_EINVAL for NULL arguments, SP_ENOMEM. *out is NULL on
// failure. The workspace does not keep m alive.
int sp_model_data_new(sp_model_data** out, const sp_model* m);
void sp_model_data_free(sp_model_data* d);  // NULL is a no-op

// Set step length, integrator and sub-steps together, after checking them (SP_EINVAL: dt not
// positive and finite, unknown integrator, substeps < 1; m is then unchanged).
int sp_model_configure(sp_model* m, double dt, sp_integrator integrator, int substeps);

// Parameter access by name; SP_ENOTFOUND for an unknown name. param_index returns the index
// (>= 0) into m->p.
int sp_model_param_index(const sp_model* m, const char* name);
int sp_model_set_param(sp_model* m, const char* name, double value);
int sp_model_get_param(const sp_model* m, const char* name, double* value);

// Evaluation. Every call below takes the model m and a workspace d made for a model of m's sizes
// (sp_model_data_new); neither allocates and m is not written.
//
// The continuous-time dynamics at the instance's parameters (for a discrete class, the map):
// xdot (nx) = f(x, u; m->p), and its Jacobians fx (nx x nx), fu (nx x nu), fp (nx x np), each of
// which may be NULL. Neither allocates. Use these for continuous-time designs (CARE, linearising
// at an equilibrium); use step_jac for the discrete map the controller actually runs with.
void sp_model_f(const sp_model* m, sp_model_data* d, double* xdot, const double* x,
                const double* u);
void sp_model_f_jac(const sp_model* m, sp_model_data* d, double* fx, double* fu, double* fp,
                    const double* x, const double* u);

// x_next (nx) = step(x, u): substeps integrator steps of length dt / substeps. x_next may not
// alias x. step, step_jac and step_vjp never allocate and never write x, u or g.
void sp_model_step(const sp_model* m, sp_model_data* d, double* x_next, const double* x,
                   const double* u);

// Step and its exact Jacobians: A (nx x nx), B (nx x nu), P (nx x np), row-major; x_next, A, B,
// P may each be NULL when not wanted.
void sp_model_step_jac(const sp_model* m, sp_model_data* d, double* x_next, double* A, double* B,
                       double* P, const double* x, const double* u);

// Backward form: given g = dL/dx_next (nx), ACCUMULATE gx += A^T g (nx), gu += B^T g (nu),
// gp += P^T g (np). Any of gx, gu, gp may be NULL.
void sp_model_step_vjp(const sp_model* m, sp_model_data* d, double* gx, double* gu, double* gp,
                       const double* x, const double* u, const double* g);

SP_API_END

#endif  // SP_MODEL_MODEL_H
