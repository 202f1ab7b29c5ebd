/* The coach's inference step, free of any ESP-IDF dependency so that it builds and is tested on
 * the host (host/Makefile) exactly as it runs on the ESP32.
 *
 * Telemetry arrives as text lines of the 8 MotoCoach channels, comma-separated, raw units:
 *   velocity m/s, roll_angle deg, lateral_g g, distance_to_apex m, throttle_position 0..1,
 *   brake_pressure 0..1, racing_line_deviation m, tire_friction_usage 0..1
 * The model is the exported policy_mlp.c/.h (apexrl export MODEL --output DIR); its outputs are
 * policy units in [-1, 1], turned here into motor intensities (0..1) and the cue frequency (Hz)
 * with the scaling the export wrote into policy_mlp.h. */
#ifndef COACH_INFERENCE_H_
#define COACH_INFERENCE_H_

#include <stdint.h>

#include "policy_mlp.h"

#ifdef __cplusplus
extern "C" {
#endif

#define COACH_OBS_DIM APEXRL_MLP_OBS_DIM
#define COACH_NEUTRAL_HZ 150.0f

typedef struct {
  float left;         /* left motor intensity, 0..1 */
  float right;        /* right motor intensity, 0..1 */
  float frequency_hz; /* vibration frequency of both motors */
} coach_cue_t;

/* Parse one telemetry line ("v,roll,g,dist,thr,brk,dev,fric", optional spaces and line end).
 * Returns 0, or -1 when the line does not hold exactly COACH_OBS_DIM finite numbers. */
int coach_parse_telemetry(const char *line, float obs[COACH_OBS_DIM]);

/* Run the policy on one observation. Returns 0, or -1 (cue = off) when the model refuses it. */
int coach_step(const float obs[COACH_OBS_DIM], coach_cue_t *cue);

/* Both motors off, frequency at the neutral cue. */
void coach_cue_off(coach_cue_t *cue);

/* Intensity 0..1 -> PWM duty counts 0..max_duty (rounded, clamped). */
uint32_t coach_duty(float intensity, uint32_t max_duty);

#ifdef __cplusplus
}
#endif

#endif /* COACH_INFERENCE_H_ */
