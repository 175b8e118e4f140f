package main

import (
	"fmt"
	"reflect"
	"testing"
)

func TestVoiceFilesIn(t *testing.T) {
	src := `-- call:play("in_a_comment")
--[[ prompt = "in_a_long_comment"
]]
local flow = {}
local s = [==[
call:play("in_a_long_string")]==]
function flow.incoming(call)
  local key = call:gather{ prompt = "user_welcome", max = 1,
                           invalid_prompt = 'user_invalid', noinput_prompt = "user_noinput",
                           valid = "[1-3]", flush = true }
  if key == "1" then return call:transfer{ ext = "200" } end
  if prompt == "not_assigned" then end
  call:play("user_transfer+user_thanks")
  call:play "user_bye"
  call:play{"list_a", "list_b", { "nested_not" }}
  call:play({"paren_a"}, { x = "opt_not" })
  call:gather{ prompt = { "gl_a", "gl_b" }, timeout = 5 }
  call:play("user_" .. lang)
  call:play(name, "second_arg_not")
  ivr.log.info("not_a_prompt", { prompt_count = 3 })
  call:play([[long_form]])
  local x = { prompt = "has space" }
end
return flow
`
	var got []string
	for _, r := range voiceFilesIn([]byte(src)) {
		got = append(got, fmt.Sprintf("%d:%s", r.Line, r.Name))
	}
	want := []string{
		"8:user_welcome", "9:user_invalid", "9:user_noinput",
		"13:user_transfer", "13:user_thanks", "14:user_bye",
		"15:list_a", "15:list_b", "16:paren_a", "17:gl_a", "17:gl_b", "21:long_form",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("voice files:\n got %v\nwant %v", got, want)
	}
}
