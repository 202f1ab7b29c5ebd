/* apexrl haptic coach on an ESP32 (ESP-IDF 5.x).
 *
 * - UART1 receives telemetry lines from the bike's logger: the 8 MotoCoach channels, comma
 *   separated, raw units (see inference/coach_inference.h), plus the GPS lap distance (m) for a
 *   coach that observes the lap position, at any rate up to 100 Hz.
 * - Every 50 ms (20 Hz) the control task runs the exported policy (policy_mlp.c, fp32, about
 *   5 k multiply-adds) on the newest telemetry and drives two vibration motors (left, right)
 *   with PWM: duty = intensity, PWM frequency = the commanded cue frequency (50..300 Hz).
 * - Telemetry older than 200 ms or a rejected model input switches both motors off.
 *
 * Pins and rates are the #defines below. ERM motors go through a logic-level MOSFET (or an
 * H-bridge) with a flyback diode; the GPIO cannot drive a motor directly. */
#include <string.h>

#include "coach_inference.h"
#include "driver/ledc.h"
#include "driver/uart.h"
#include "esp_log.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

#define TELEMETRY_UART UART_NUM_1
#define TELEMETRY_RX_GPIO 16
#define TELEMETRY_TX_GPIO 17
#define TELEMETRY_BAUD 115200
#define TELEMETRY_TIMEOUT_US 200000
#define CONTROL_PERIOD_MS 50
#define MOTOR_LEFT_GPIO 25
#define MOTOR_RIGHT_GPIO 26
#define MOTOR_TIMER LEDC_TIMER_0
#define MOTOR_MODE LEDC_LOW_SPEED_MODE
#define MOTOR_LEFT_CHANNEL LEDC_CHANNEL_0
#define MOTOR_RIGHT_CHANNEL LEDC_CHANNEL_1
#define MOTOR_RESOLUTION LEDC_TIMER_10_BIT
#define MOTOR_MAX_DUTY ((1u << 10) - 1u)

static const char *TAG = "coach";
static portMUX_TYPE s_lock = portMUX_INITIALIZER_UNLOCKED;
static float s_obs[COACH_TELEMETRY_DIM];
static int64_t s_obs_time_us = -1;

static void telemetry_task(void *arg) {
  (void)arg;
  char line[128];
  size_t len = 0;
  uint8_t chunk[64];
  float obs[COACH_TELEMETRY_DIM];
  for (;;) {
    int n = uart_read_bytes(TELEMETRY_UART, chunk, sizeof chunk, pdMS_TO_TICKS(20));
    for (int i = 0; i < n; ++i) {
      char c = (char)chunk[i];
      if (c != '\n') {
        if (len < sizeof line - 1) line[len++] = c;
        else len = sizeof line; /* overlong: drop the whole line */
        continue;
      }
      if (len < sizeof line) {
        line[len] = '\0';
        if (coach_parse_telemetry(line, obs) == 0) {
          taskENTER_CRITICAL(&s_lock);
          memcpy(s_obs, obs, sizeof s_obs);
          s_obs_time_us = esp_timer_get_time();
          taskEXIT_CRITICAL(&s_lock);
        }
      }
      len = 0;
    }
  }
}

static void motors_init(void) {
  /* REF_TICK (1 MHz) keeps 50..300 Hz reachable at 10-bit resolution; the 80 MHz APB clock
   * would need a divider above the LEDC's limit below ~300 Hz. */
  ledc_timer_config_t timer = {
      .speed_mode = MOTOR_MODE,
      .duty_resolution = MOTOR_RESOLUTION,
      .timer_num = MOTOR_TIMER,
      .freq_hz = (uint32_t)COACH_NEUTRAL_HZ,
      .clk_cfg = LEDC_USE_REF_TICK,
  };
  ESP_ERROR_CHECK(ledc_timer_config(&timer));
  const int gpios[2] = {MOTOR_LEFT_GPIO, MOTOR_RIGHT_GPIO};
  const ledc_channel_t channels[2] = {MOTOR_LEFT_CHANNEL, MOTOR_RIGHT_CHANNEL};
  for (int i = 0; i < 2; ++i) {
    ledc_channel_config_t ch = {
        .gpio_num = gpios[i],
        .speed_mode = MOTOR_MODE,
        .channel = channels[i],
        .intr_type = LEDC_INTR_DISABLE,
        .timer_sel = MOTOR_TIMER,
        .duty = 0,
        .hpoint = 0,
    };
    ESP_ERROR_CHECK(ledc_channel_config(&ch));
  }
}

static void motors_set(const coach_cue_t *cue) {
  static uint32_t current_hz = 0;
  uint32_t hz = (uint32_t)(cue->frequency_hz + 0.5f);
  if (hz != current_hz && ledc_set_freq(MOTOR_MODE, MOTOR_TIMER, hz) == ESP_OK) current_hz = hz;
  ledc_set_duty(MOTOR_MODE, MOTOR_LEFT_CHANNEL, coach_duty(cue->left, MOTOR_MAX_DUTY));
  ledc_update_duty(MOTOR_MODE, MOTOR_LEFT_CHANNEL);
  ledc_set_duty(MOTOR_MODE, MOTOR_RIGHT_CHANNEL, coach_duty(cue->right, MOTOR_MAX_DUTY));
  ledc_update_duty(MOTOR_MODE, MOTOR_RIGHT_CHANNEL);
}

static void control_task(void *arg) {
  (void)arg;
  TickType_t last = xTaskGetTickCount();
  float obs[COACH_TELEMETRY_DIM];
  coach_cue_t cue;
  for (;;) {
    vTaskDelayUntil(&last, pdMS_TO_TICKS(CONTROL_PERIOD_MS));
    taskENTER_CRITICAL(&s_lock);
    memcpy(obs, s_obs, sizeof obs);
    int64_t stamp = s_obs_time_us;
    taskEXIT_CRITICAL(&s_lock);
    int64_t start = esp_timer_get_time();
    if (stamp < 0 || start - stamp > TELEMETRY_TIMEOUT_US || coach_step(obs, &cue) != 0) {
      coach_cue_off(&cue);
    }
    int64_t took = esp_timer_get_time() - start;
    motors_set(&cue);
    ESP_LOGD(TAG, "L %.2f R %.2f %.0f Hz (%lld us)", cue.left, cue.right, cue.frequency_hz,
             (long long)took);
  }
}

void app_main(void) {
  uart_config_t uart = {
      .baud_rate = TELEMETRY_BAUD,
      .data_bits = UART_DATA_8_BITS,
      .parity = UART_PARITY_DISABLE,
      .stop_bits = UART_STOP_BITS_1,
      .flow_ctrl = UART_HW_FLOWCTRL_DISABLE,
      .source_clk = UART_SCLK_DEFAULT,
  };
  ESP_ERROR_CHECK(uart_driver_install(TELEMETRY_UART, 1024, 0, 0, NULL, 0));
  ESP_ERROR_CHECK(uart_param_config(TELEMETRY_UART, &uart));
  ESP_ERROR_CHECK(uart_set_pin(TELEMETRY_UART, TELEMETRY_TX_GPIO, TELEMETRY_RX_GPIO,
                               UART_PIN_NO_CHANGE, UART_PIN_NO_CHANGE));
  motors_init();
  ESP_LOGI(TAG, "policy: %d inputs, %d outputs, %d MACs; control at %d Hz", APEXRL_MLP_OBS_DIM,
           APEXRL_MLP_ACTION_DIM, APEXRL_MLP_MACS, 1000 / CONTROL_PERIOD_MS);
  xTaskCreate(telemetry_task, "telemetry", 3072, NULL, 5, NULL);
  xTaskCreate(control_task, "control", 4096, NULL, 6, NULL);
}
