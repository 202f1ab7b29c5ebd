/* The coach's inference step, free of any ESP-IDF dependency so that it builds and is tested on
 * the host (host/Makefile) exactly as it runs on the ESP32.
 *
 * Telemetry arrives as text lines of the 8 MotoCoach channels, comma-separated, raw units:
 *   velocity m/s, roll_angle deg, lateral_g g, distance_to_apex m, throttle_position 0..1,
 *   brake_pressure 0..1, racing_line_deviation m, tire_friction_usage 0..1
 * and, for a coach that observes the lap position (APEXRL_MLP_LAP_HARMONICS > 0 in
 * policy_mlp.h), a 9th value: the lap distance in m from the logger's GPS lap timer. coach_step
 * turns it into the model's sin/cos lap-position channels.
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

#ifndef APEXRL_MLP_LAP_HARMONICS
#define APEXRL_MLP_LAP_HARMONICS 0 /* a policy_mlp.h from before lap position */
#endif
#define COACH_OBS_DIM APEXRL_MLP_OBS_DIM
/* Values per telemetry line: the model's inputs, with the lap-position channels replaced by the
 * one lap distance they are computed from. */
#define COACH_TELEMETRY_DIM \
  (APEXRL_MLP_OBS_DIM - 2 * APEXRL_MLP_LAP_HARMONICS + (APEXRL_MLP_LAP_HARMONICS > 0 ? 1 : 0))
#define COACH_NEUTRAL_HZ 150.0f

typedef struct {
  float left;         /* left motor intensity, 0..1 */
  float right;        /* right motor intensity, 0..1 */
  float frequency_hz; /* vibration frequency of both motors */
} coach_cue_t;

/* Parse one telemetry line ("v,roll,g,dist,thr,brk,dev,fric[,lap_distance]", optional spaces
 * and line end). Returns 0, or -1 when the line does not hold exactly COACH_TELEMETRY_DIM finite
 * numbers. */
int coach_parse_telemetry(const char *line, float telemetry[COACH_TELEMETRY_DIM]);

/* Run the policy on one telemetry sample. Returns 0, or -1 (cue = off) when the model refuses
 * it. */
int coach_step(const float telemetry[COACH_TELEMETRY_DIM], coach_cue_t *cue);

/* Both motors off, frequency at the neutral cue. */
void coach_cue_off(coach_cue_t *cue);

/* Intensity 0..1 -> PWM duty counts 0..max_duty (rounded, clamped). */
uint32_t coach_duty(float intensity, uint32_t max_duty);

#ifdef __cplusplus
}
#endif

#endif /* COACH_INFERENCE_H_ */
