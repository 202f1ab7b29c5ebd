#include "coach_inference.h"

#include <math.h>
#include <stdlib.h>

#if APEXRL_MLP_ACTION_DIM != 3
#error "the coach expects 3 outputs: left intensity, right intensity, frequency"
#endif

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

int coach_parse_telemetry(const char *line, float telemetry[COACH_TELEMETRY_DIM]) {
  const char *p = line;
  for (int i = 0; i < COACH_TELEMETRY_DIM; ++i) {
    char *end = NULL;
    float v = strtof(p, &end);
    if (end == p || !isfinite(v)) return -1;
    p = end;
    while (is_space(*p)) ++p;
    if (i < COACH_TELEMETRY_DIM - 1) {
      if (*p != ',') return -1;
      ++p;
    }
    telemetry[i] = v;
  }
  return *p == '\0' ? 0 : -1;
}

void coach_cue_off(coach_cue_t *cue) {
  cue->left = 0.0f;
  cue->right = 0.0f;
  cue->frequency_hz = COACH_NEUTRAL_HZ;
}

int coach_step(const float telemetry[COACH_TELEMETRY_DIM], coach_cue_t *cue) {
  float obs[COACH_OBS_DIM];
  float action[APEXRL_MLP_ACTION_DIM];
  for (int i = 0; i < COACH_TELEMETRY_DIM; ++i) obs[i] = telemetry[i];
#if APEXRL_MLP_LAP_HARMONICS > 0
  {
    /* The model's lap-position channels, as apexrl.envs.vector.lap_features computes them. */
    const int base = COACH_TELEMETRY_DIM - 1;
    const double two_pi = 6.283185307179586;
    double s = fmod((double)telemetry[base], (double)APEXRL_MLP_LAP_LENGTH_M);
    if (s < 0.0) s += (double)APEXRL_MLP_LAP_LENGTH_M;
    for (int k = 1; k <= APEXRL_MLP_LAP_HARMONICS; ++k) {
      double phase = two_pi * s * k / (double)APEXRL_MLP_LAP_LENGTH_M;
      obs[base + k - 1] = (float)sin(phase);
      obs[base + APEXRL_MLP_LAP_HARMONICS + k - 1] = (float)cos(phase);
    }
  }
#endif
  if (apexrl_mlp_forward(obs, action) != 0) {
    coach_cue_off(cue);
    return -1;
  }
  cue->left = apexrl_mlp_to_env(action, 0);
  cue->right = apexrl_mlp_to_env(action, 1);
  cue->frequency_hz = apexrl_mlp_frequency_hz(action);
  return 0;
}

uint32_t coach_duty(float intensity, uint32_t max_duty) {
  if (!(intensity > 0.0f)) return 0; /* also NaN */
  if (intensity >= 1.0f) return max_duty;
  return (uint32_t)lrintf(intensity * (float)max_duty);
}
