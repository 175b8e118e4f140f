package main

import (
	"fmt"
	"strings"
)

// promptTexts checks [prompts] against the flows and the devices. Texts
// are for people (the console's phone, the demo's transcript), never
// for calls, so nothing here fails the check: it warns about a text no
// caller can ever hear — its file is on no device and named by no flow,
// most likely a typo in the key — and about a text for a file missing
// on a device; and it lists the files the flows name that have no text,
// which the phone and the transcript show by file name only. Without
// [prompts] it says nothing: texts are optional.
func (ch *checker) promptTexts(flows []flowRefs) {
	texts := ch.cfg.Prompts
	if len(texts) == 0 {
		return
	}
	fmt.Fprintf(ch.out, "Prompt texts in %s ([prompts], %d):\n", ch.configPath, len(texts))
	named := map[string]string{} // file → where a flow first names it
	var order []string
	for _, fr := range flows {
		for _, r := range fr.refs {
			if _, ok := named[r.Name]; !ok {
				named[r.Name] = fmt.Sprintf("%s:%d", fr.file, r.Line)
				order = append(order, r.Name)
			}
		}
	}
	warned := 0
	for _, f := range sortedNames(texts) {
		onSome, missingOn := false, []string{}
		for _, dc := range ch.cfg.Devices {
			has, listed := ch.onDevice[dc.Name]
			switch {
			case !listed:
			case has[f]:
				onSome = true
			default:
				missingOn = append(missingOn, dc.Name)
			}
		}
		_, inFlow := named[f]
		switch {
		case !onSome && !inFlow && len(missingOn) > 0:
			warned++
			fmt.Fprintf(ch.out, "  WARN  prompts.%s: no device has voice file %q and no flow names it (a typo in the key?)\n", f, f)
		case len(missingOn) > 0:
			warned++
			fmt.Fprintf(ch.out, "  WARN  prompts.%s: voice file %q is not on device %s\n", f, f, strings.Join(missingOn, ", "))
		}
	}
	var untexted []string
	for _, f := range order {
		if texts[f] == "" {
			untexted = append(untexted, f+" ("+named[f]+")")
		}
	}
	if len(untexted) > 0 {
		fmt.Fprintf(ch.out, "  note  %d voice file(s) the flows name have no text; the console's phone shows their names only: %s\n",
			len(untexted), strings.Join(untexted, ", "))
	}
	if warned == 0 && len(untexted) == 0 {
		fmt.Fprintf(ch.out, "  ok    every voice file the flows name has a text, and every text's file is on the devices\n")
	}
}
