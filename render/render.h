// render.h: offscreen pictures of an MJCF model in recorded poses, drawn by MuJoCo's own renderer
// (mjv_ scene, mjr_ OpenGL context) in a headless OpenGL context made with EGL.
//
//   sp_render* r;
//   sp_render_config c = {.mjcf = "robots/rc_car.xml", .width = 640, .height = 480};
//   if (sp_render_new(&r, &c, msg, sizeof msg)) ... msg says why (no MJCF, no EGL display, ...)
//   sp_render_pose(r, qpos);                    // nq values: one recorded configuration
//   sp_render_focus(r, centre, &radius);        // where the robot is, for the camera
//   sp_render_frame(r, rgb, &cam, paths, 2);    // width * height * 3 bytes, top row first
//   sp_render_free(r);
//
// The context: EGL on Mesa's surfaceless platform (no display, no GPU needed: llvmpipe renders in
// software), else the first EGL device (a GPU driver's), else EGL's default display; MuJoCo draws
// into its offscreen framebuffer, so no window surface is made. A machine without a working EGL
// driver gets SP_EUNSUPPORTED and a message naming the packages (libegl-mesa0, libgl1-mesa-dri;
// tools/install-deps). Each renderer owns its context and makes it current on the calling
// thread in every call; use one renderer from one thread at a time.
//
// This layer (render/, libspinal_render) is the only one that uses OpenGL: the engine and the hal
// never do. MuJoCo allocates its scene and context itself; a frame allocates nothing.
#ifndef SP_RENDER_RENDER_H
#define SP_RENDER_RENDER_H

#include <stddef.h>

#include "engine/core/export.h"

SP_API_BEGIN

typedef struct sp_render sp_render;

#define SP_RENDER_MAX_SIZE 4096  // largest width or height in pixels
#define SP_RENDER_MAX_SEGMENTS 8000  // path segments one frame draws (longer paths are thinned)

typedef struct sp_render_config {
  const char* mjcf;  // the model file (required)
  int width;         // image size in pixels, 0: 640 x 480; each in [16, SP_RENDER_MAX_SIZE]
  int height;
  int samples;  // multisampling (anti-aliasing) samples; 0: the model's offsamples (MuJoCo: 4)
} sp_render_config;

// a free camera looking at a point: MuJoCo's mjvCamera of type mjCAMERA_FREE
typedef struct sp_render_camera {
  double lookat[3];  // world point at the image centre (m)
  double distance;   // from lookat to the camera (m), > 0
  double azimuth;    // degrees about world z; 90 looks along +y, 0 along +x
  double elevation;  // degrees; negative looks down
} sp_render_camera;

// a polyline drawn as a ribbon of flat boxes between consecutive points (a path on the floor)
typedef struct sp_render_path {
  const double* points;  // (n x 3) world positions (m)
  int n;                 // points; < 2 draws nothing
  float rgba[4];         // colour and opacity
  double width;          // half the ribbon's width (m), > 0
} sp_render_path;

// Load the MJCF and make the OpenGL context and MuJoCo's scene. On failure *out is NULL and msg
// names the file, the EGL step or the OpenGL requirement that failed.
int sp_render_new(sp_render** out, const sp_render_config* c, char* msg, size_t msglen);
// Frees the context, scene, model and data. Safe on NULL.
void sp_render_free(sp_render* r);

// The model's number of position coordinates (a recorded qpos row's length).
int sp_render_nq(const sp_render* r);
// The image size in pixels.
void sp_render_size(const sp_render* r, int* width, int* height);

// Set the pose: qpos (nq values) and its kinematics. SP_ENUMERIC (pose unchanged) when a value is
// not finite.
int sp_render_pose(sp_render* r, const double* qpos);

// The body the focus follows: a body name, or NULL for the robot's root (the first body on a free
// joint, else the world's first child). SP_ENOTFOUND (msg names it) for an unknown name.
int sp_render_track(sp_render* r, const char* body, char* msg, size_t msglen);
// Where the tracked body is in the current pose: the centre of mass of its subtree, and the
// radius of a sphere about that centre holding every geom of the subtree (the robot's size).
void sp_render_focus(const sp_render* r, double centre[3], double* radius);

// Draw the current pose from cam with paths (npaths; NULL when 0) added to the scene, and read
// the image into rgb (width * height * 3 bytes, RGB, top row first).
int sp_render_frame(sp_render* r, unsigned char* rgb, const sp_render_camera* cam,
                    const sp_render_path* paths, int npaths);

SP_API_END

#endif  // SP_RENDER_RENDER_H
