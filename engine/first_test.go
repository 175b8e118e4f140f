package engine_test

import (
	"reflect"
	"testing"
	"time"
)

const menuFlow = `
local flow = {}
function flow.incoming(call)
  local key, why = call:gather{ prompt = "user_welcome", timeout = 5, tries = 2,
                                valid = "[1-3]", invalid_prompt = "user_invalid" }
  if key == "1" then return call:transfer{ ext = "201" } end
  if key == "2" then return call:transfer{ ext = "202" } end
  call:play("user_bye")
end
return flow
`

func TestMenuOptionOne(t *testing.T) {
	r := newRig(t, map[string]string{"main": menuFlow}, rigOptions{})
	c := r.call("13800000001")
	r.advance(2 * time.Second)
	r.press(c, "1")
	if got := c.State(); got != "ringing" {
		t.Fatalf("state = %q, want ringing", got)
	}
	r.advance(time.Second)
	info := c.Info()
	if info.State != "talking" || info.Connected != "ext 201" {
		t.Fatalf("call = %+v, want talking to ext 201", info)
	}
	if got, want := heard(c), []string{"user_welcome"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("heard %v, want %v", got, want)
	}
}
