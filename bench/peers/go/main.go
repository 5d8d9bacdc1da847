// A peer for bench/receive: a Go net/http receiver doing what flagtrail receive does per
// webhook: verify the HMAC-SHA256 signature in constant time, parse the JSON, append it to a
// log file, and answer 200 only after fsync, with group commit (one fsync for every waiting
// request) so that durability costs it no more than it costs flagtrail.
//
//	go_receiver PORT SECRET_FILE LOG_FILE
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"os"
)

type appendReq struct {
	body []byte
	done chan error
}

func committer(f *os.File, reqs chan appendReq) {
	for {
		batch := []appendReq{<-reqs}
	drain:
		for {
			select {
			case r := <-reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		var err error
		for _, r := range batch {
			if _, e := f.Write(r.body); e != nil && err == nil {
				err = e
			}
		}
		if e := f.Sync(); e != nil && err == nil {
			err = e
		}
		for _, r := range batch {
			r.done <- err
		}
	}
}

func main() {
	secret, err := os.ReadFile(os.Args[2])
	if err != nil {
		log.Fatal(err)
	}
	secret = bytes.TrimRight(secret, "\r\n")
	f, err := os.OpenFile(os.Args[3], os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0600)
	if err != nil {
		log.Fatal(err)
	}
	reqs := make(chan appendReq, 4096)
	go committer(f, reqs)
	http.HandleFunc("/webhook", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, `{"error":"payload_too_large"}`, 413)
			return
		}
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		given, err := hex.DecodeString(r.Header.Get("X-Flagsmith-Signature"))
		if err != nil || !hmac.Equal(given, mac.Sum(nil)) {
			http.Error(w, `{"error":"invalid_signature"}`, 401)
			return
		}
		var payload map[string]interface{}
		if err := json.Unmarshal(body, &payload); err != nil {
			http.Error(w, `{"error":"invalid_json"}`, 400)
			return
		}
		done := make(chan error, 1)
		reqs <- appendReq{append(body, '\n'), done}
		if err := <-done; err != nil {
			http.Error(w, `{"error":"unavailable"}`, 503)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"accepted"}`))
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:"+os.Args[1], nil))
}
