package api

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// consoleFiles are the operator console's pages: plain HTML, CSS and
// JavaScript, no build step. The console reaches the daemon only through
// this API, as any script could.
//
//go:embed console
var consoleFiles embed.FS

// consoleHeaders are set on every console file: nothing but this origin
// may run scripts, load styles or frame the page.
func consoleHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "+
		"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-cache")
}

// console serves GET / (the console's page) and GET /console/ (its
// files). The files hold no data: what the console shows comes from
// /api/, behind the sign-in.
func console() http.Handler {
	sub, err := fs.Sub(consoleFiles, "console")
	if err != nil {
		panic(err) // the embedded folder is part of the build
	}
	files := http.StripPrefix("/console/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		consoleHeaders(w.Header())
		switch {
		case r.URL.Path == "/":
			http.ServeFileFS(w, r, sub, "index.html")
			return
		case strings.HasSuffix(r.URL.Path, "/"):
			http.NotFound(w, r) // no folder listings
			return
		}
		files.ServeHTTP(w, r)
	})
}
