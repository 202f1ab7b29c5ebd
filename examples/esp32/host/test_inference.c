/* Host build of the firmware's inference step (host/Makefile).
 *
 *   test_inference --self-test    checks the parser and the duty mapping, exit 0 when all pass
 *   test_inference < telemetry    one telemetry line in, "left right frequency_hz" out per line
 *                                 ("off" for a line the firmware would reject) */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "coach_inference.h"

static int failures = 0;

static void expect(int ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "FAILED: %s\n", what);
    ++failures;
  }
}

/* A lap-position coach reads a 9th value, the lap distance (m). */
#if APEXRL_MLP_LAP_HARMONICS > 0
#define LAP ",1234.5"
#else
#define LAP ""
#endif

static int self_test(void) {
  float obs[COACH_TELEMETRY_DIM];
  coach_cue_t cue;
  expect(coach_parse_telemetry("45.5,-12,0.4,120,0.8,0,-0.35,0.6" LAP "\n", obs) == 0,
         "valid line");
  expect(obs[0] == 45.5f && obs[1] == -12.0f && obs[7] == 0.6f, "parsed values");
  expect(coach_parse_telemetry(" 1 , 2,3,4,5,6,7,8 " LAP "\r\n", obs) == 0, "spaces and CRLF");
  expect(coach_parse_telemetry("1,2,3,4,5,6,7" LAP, obs) == -1, "one value too few rejected");
  expect(coach_parse_telemetry("1,2,3,4,5,6,7,8,9" LAP, obs) == -1, "one too many rejected");
  expect(coach_parse_telemetry("1,2,3,x,5,6,7,8" LAP, obs) == -1, "text rejected");
  expect(coach_parse_telemetry("1,2,3,nan,5,6,7,8" LAP, obs) == -1, "nan rejected");
  expect(coach_parse_telemetry("", obs) == -1, "empty line rejected");
  expect(coach_duty(0.0f, 1023) == 0 && coach_duty(1.0f, 1023) == 1023, "duty ends");
  expect(coach_duty(0.5f, 1023) == 512 && coach_duty(2.0f, 1023) == 1023, "duty middle, clamp");
  expect(coach_duty(-1.0f, 1023) == 0 && coach_duty(NAN, 1023) == 0, "duty negative, nan");
  coach_parse_telemetry("45.5,-12,0.4,120,0.8,0,-0.35,0.6" LAP, obs);
  expect(coach_step(obs, &cue) == 0, "step runs");
  expect(cue.left >= 0.0f && cue.left <= 1.0f && cue.right >= 0.0f && cue.right <= 1.0f,
         "intensities in 0..1");
  expect(cue.frequency_hz >= 50.0f && cue.frequency_hz <= 300.0f, "frequency in 50..300 Hz");
  return failures == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--self-test") == 0) return self_test();
  char line[512];
  float obs[COACH_TELEMETRY_DIM];
  coach_cue_t cue;
  while (fgets(line, sizeof line, stdin)) {
    if (coach_parse_telemetry(line, obs) != 0 || coach_step(obs, &cue) != 0) {
      puts("off");
      continue;
    }
    printf("%.9g %.9g %.9g\n", cue.left, cue.right, cue.frequency_hz);
  }
  return 0;
}
