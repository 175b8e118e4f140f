package main

// demoPrompts are the prompt texts of "ivrd demo" (it has no ivrd.toml):
// what the simulated device's voice files would say on a hotel's OM. The
// transcript and the console's phone show them.
var demoPrompts = map[string]string{
	"user_welcome":        "Welcome to the Grand Hotel.",
	"user_menu":           "For reception, press 1. For the restaurant, press 2. To hear our thanks, press 3. For the operator, press 0.",
	"user_invalid":        "Sorry, that key is not on the menu.",
	"user_noinput":        "Sorry, we did not hear a key.",
	"user_bye":            "Thank you for calling. Goodbye.",
	"user_thanks":         "Thank you!",
	"user_transfer":       "Please hold while we put you through.",
	"user_busy":           "The line is busy. To speak to the operator instead, press 0.",
	"user_closed":         "We are closed now.",
	"user_enter_room":     "Please enter your room number, then press the hash key.",
	"user_wakeup":         "Good morning! This is your wake-up call.",
	"user_wakeup_confirm": "Press 1 to confirm that you are awake.",
	"user_code_is":        "Your verification code is",
	"user_repeat":         "Once again:",
	"user_survey_intro":   "Please answer three short questions about your stay, each with a key from 1 to 5.",
	"user_survey_q1":      "How was your room?",
	"user_survey_q2":      "How was the service?",
	"user_survey_q3":      "Would you stay with us again?",
	"user_survey_thanks":  "Thank you for your answers.",
	"user_digit_0":        "zero",
	"user_digit_1":        "one",
	"user_digit_2":        "two",
	"user_digit_3":        "three",
	"user_digit_4":        "four",
	"user_digit_5":        "five",
	"user_digit_6":        "six",
	"user_digit_7":        "seven",
	"user_digit_8":        "eight",
	"user_digit_9":        "nine",
}
