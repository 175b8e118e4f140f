package omsim_test

import (
	"testing"
	"time"

	"github.com/ivrd/ivrd/omproto"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// TestClickToDial checks an extension calling an outside number
// (Transfer Connect ext → outer): the extension rings first, the number is
// dialled only once it answers, and each way the call can go reports what
// a device would.
func TestClickToDial(t *testing.T) {
	t.Run("nothing is dialled before the extension answers", func(t *testing.T) {
		h := newHarness(t, func(c *omsim.Config) {
			c.ExtPolicies = map[string]omsim.Policy{"208": {Answer: omsim.AnswerManual}}
		})
		h.connect(ext("208"), dial(callee), "")
		h.advance(time.Minute)
		h.expect("RING outer:1 ext:208")
		if got := h.sim.CallsTo(callee); len(got) != 0 {
			t.Fatalf("the number was dialled while the extension rang: %v", got[0].Info())
		}
		if err := h.sim.AnswerExt("208"); err != nil {
			t.Fatal(err)
		}
		h.expect("ANSWER outer:1 ext:208", "BUSY ext:208", "ALERT outer:1 ext:208")
		if got := h.sim.CallsTo(callee); len(got) != 1 {
			t.Fatalf("calls to %s after the extension answered: %d, want 1", callee, len(got))
		}
	})

	t.Run("the extension does not answer", func(t *testing.T) {
		h := newHarness(t, func(c *omsim.Config) {
			c.ExtPolicies = map[string]omsim.Policy{"208": {Answer: omsim.AnswerNoAnswer}}
		})
		h.connect(ext("208"), dial(callee), "")
		h.advance(omsim.DefaultNoAnswerTimeout - time.Second)
		h.expect("RING outer:1 ext:208")
		h.advance(time.Second)
		h.expect("BYE outer:1 ext:208", "Cdr OU 208>13900000000 dur=0")
		h.extState("208", "idle")
		if got := h.sim.CallsTo(callee); len(got) != 0 {
			t.Fatalf("the number was dialled: %v", got[0].Info())
		}
	})

	t.Run("the extension rejects the ringing call", func(t *testing.T) {
		h := newHarness(t, func(c *omsim.Config) {
			c.ExtPolicies = map[string]omsim.Policy{"208": {Answer: omsim.AnswerManual}}
		})
		h.connect(ext("208"), dial(callee), "")
		h.expect("RING outer:1 ext:208")
		if err := h.sim.HangUpExt("208"); err != nil {
			t.Fatal(err)
		}
		h.expect("BYE outer:1 ext:208", "Cdr OU 208>13900000000 dur=0")
	})

	t.Run("the extension is busy or offline", func(t *testing.T) {
		h := newHarness(t, func(c *omsim.Config) {
			c.ExtPolicies = map[string]omsim.Policy{"207": {Answer: omsim.AnswerBusy}, "208": {Answer: omsim.AnswerOffline}}
		})
		h.failCode(omproto.Connect{From: ext("207"), To: dial(callee)}, omproto.CodeCalledBusy)
		h.failCode(omproto.Connect{From: ext("208"), To: dial(callee)}, omproto.CodeCallingExtOffline)
		h.expect()
	})

	t.Run("the far end is busy", func(t *testing.T) {
		h := newHarness(t, func(c *omsim.Config) {
			c.Numbers = map[string]omsim.Policy{callee: {Answer: omsim.AnswerBusy}}
		})
		h.connect(ext("208"), dial(callee), "")
		h.advance(time.Second)
		h.expect("RING outer:1 ext:208", "ANSWER outer:1 ext:208", "BUSY ext:208",
			"FAILED outer:1 code=6", "BYE outer:1 ext:208", "Cdr OU 208>13900000000 dur=0", "IDLE ext:208")
	})

	t.Run("the far end does not answer", func(t *testing.T) {
		h := newHarness(t, func(c *omsim.Config) {
			c.Numbers = map[string]omsim.Policy{callee: {Answer: omsim.AnswerNoAnswer}}
		})
		h.connect(ext("208"), dial(callee), "")
		h.advance(time.Second)
		h.expect("RING outer:1 ext:208", "ANSWER outer:1 ext:208", "BUSY ext:208", "ALERT outer:1 ext:208")
		h.advance(omsim.DefaultNoAnswerTimeout)
		h.expect("BYE outer:1 ext:208", "Cdr OU 208>13900000000 dur=0", "IDLE ext:208")
	})
}

// TestClickToConnect checks an extension calling another (Transfer Connect
// ext → ext) when the second extension cannot take the call.
func TestClickToConnect(t *testing.T) {
	t.Run("the calling extension does not answer", func(t *testing.T) {
		h := newHarness(t, func(c *omsim.Config) {
			c.ExtPolicies = map[string]omsim.Policy{"200": {Answer: omsim.AnswerNoAnswer}}
		})
		h.connect(ext("200"), ext("201"), "")
		h.advance(omsim.DefaultNoAnswerTimeout)
		h.expect("RING ext:200", "BYE ext:200 ext:201", "Cdr LO 200>201 dur=0")
		h.extState("200", "idle")
		h.extState("201", "idle")
	})

	t.Run("the calling extension rejects the ringing call", func(t *testing.T) {
		h := newHarness(t, func(c *omsim.Config) {
			c.ExtPolicies = map[string]omsim.Policy{"200": {Answer: omsim.AnswerManual}}
		})
		h.connect(ext("200"), ext("201"), "")
		h.expect("RING ext:200")
		if err := h.sim.HangUpExt("200"); err != nil {
			t.Fatal(err)
		}
		h.expect("BYE ext:200 ext:201", "Cdr LO 200>201 dur=0")
	})

	t.Run("the app clears the ringing caller", func(t *testing.T) {
		h := newHarness(t, func(c *omsim.Config) {
			c.ExtPolicies = map[string]omsim.Policy{"200": {Answer: omsim.AnswerManual}}
		})
		h.connect(ext("200"), ext("201"), "")
		h.expect("RING ext:200")
		if err := h.client.Clear(h.ctx, ext("200")); err != nil {
			t.Fatal(err)
		}
		h.expect("BYE ext:200 ext:201", "Cdr LO 200>201 dur=0")
		h.extState("200", "idle")
	})

	t.Run("the called extension does not answer", func(t *testing.T) {
		h := newHarness(t, func(c *omsim.Config) {
			c.ExtPolicies = map[string]omsim.Policy{"201": {Answer: omsim.AnswerNoAnswer}}
		})
		h.connect(ext("200"), ext("201"), "")
		h.advance(time.Second)
		h.expect("RING ext:200", "ANSWER ext:200", "BUSY ext:200", "RING ext:201")
		h.advance(omsim.DefaultNoAnswerTimeout)
		h.expect("BYE ext:200 ext:201", "Cdr LO 200>201 dur=0", "IDLE ext:200")
		h.extState("201", "idle")
	})

	t.Run("the called extension is taken while the caller rings", func(t *testing.T) {
		h := newHarness(t, func(c *omsim.Config) {
			c.ExtPolicies = map[string]omsim.Policy{"200": {Answer: omsim.AnswerManual}}
		})
		h.connect(ext("200"), ext("201"), "")
		h.expect("RING ext:200")
		_, v := h.incoming(caller)
		h.connect(v.Ref(), ext("201"), "")
		h.advance(time.Second)
		h.expect("RING visitor:1 ext:201", "ANSWER visitor:1 ext:201", "BUSY ext:201")
		if err := h.sim.AnswerExt("200"); err != nil {
			t.Fatal(err)
		}
		h.expect("ANSWER ext:200", "BUSY ext:200", "FAILED ext:200 ext:201 code=4",
			"BYE ext:200 ext:201", "Cdr LO 200>201 dur=0", "IDLE ext:200")
	})

	t.Run("the called extension is busy or offline", func(t *testing.T) {
		h := newHarness(t, func(c *omsim.Config) {
			c.ExtPolicies = map[string]omsim.Policy{"201": {Answer: omsim.AnswerBusy}, "202": {Answer: omsim.AnswerOffline}}
		})
		h.failCode(omproto.Connect{From: ext("200"), To: ext("201")}, omproto.CodeCalledBusy)
		h.failCode(omproto.Connect{From: ext("200"), To: ext("202")}, omproto.CodeCalledOffline)
		h.failCode(omproto.Connect{From: ext("202"), To: ext("200")}, omproto.CodeCallingExtOffline)
		h.expect()
	})
}
