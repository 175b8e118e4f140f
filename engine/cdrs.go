package engine

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Cdr is a device's call record as ivrd keeps it: every record the device
// sends, whether or not the call passed through the IVR.
type Cdr struct {
	CdrRecord
	// Device is the device that sent it; CallID the device's callid.
	Device string `json:"device"`
	CallID string `json:"callid,omitempty"`
	// Ended is TimeEnd read in the device's zone (Device.TZ), or the time
	// the record arrived when TimeEnd is not a time.
	Ended time.Time `json:"ended"`
	// Call is the id of the IVR call it belongs to; "" when the call never
	// reached the IVR.
	Call string `json:"call,omitempty"`
}

// key is the record's identity on its device: its id, or — for a device
// that sends none — its callid and end.
func (c *Cdr) key() string {
	id := c.ID
	if id == "" {
		id = "callid:" + c.CallID + "@" + c.TimeEnd
	}
	return c.Device + "/" + id
}

// CdrQuery selects call records (BoltStore.SearchCdrs).
type CdrQuery struct {
	// Since and Until keep the records that ended at or after Since and
	// before Until (zero: unbounded).
	Since, Until time.Time
	// Number keeps the records whose caller or called number contains it.
	Number string
	// Ext keeps the records whose caller or called number is that
	// extension.
	Ext string
	// Before continues a search (the Next of the previous page).
	Before string
	// Limit is the most records returned (0: all).
	Limit int
}

// CdrPage is one page of a call record search, newest first. Next, when
// not empty, is the Before that continues it.
type CdrPage struct {
	Cdrs []Cdr
	Next string
}

var (
	// bucketCdrs holds every call record by end time then identity, so a
	// time range is one cursor walk; bucketCdrKeys maps an identity to its
	// key there, so a record the device sends again is kept once.
	bucketCdrs    = []byte("cdrs")
	bucketCdrKeys = []byte("cdr_keys")
)

func cdrBuckets(tx *bolt.Tx) error {
	for _, b := range [][]byte{bucketCdrs, bucketCdrKeys} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

// KeepCdr stores a call record, unless one with the same identity (device
// and id) is stored already; kept says which. now stamps the fetch a
// record that names a Recording queues in the same transaction
// (Recordings).
func (s *BoltStore) KeepCdr(c Cdr, now time.Time) (kept bool, err error) {
	err = s.write(func(tx *bolt.Tx) error {
		kept, err = keepCdrTx(tx, c, now)
		return err
	})
	return kept, err
}

// CdrKept is what AttachAndKeepCdr did with a call record.
type CdrKept struct {
	// CallID is the IVR call the record was kept with ("" for none).
	CallID string
	// Kept is false for a record stored already (sent again).
	Kept bool
	// AttachErr is why the record could not be kept with its call; it
	// was stored among all records all the same.
	AttachErr error
}

// AttachAndKeepCdr is AttachCdr and KeepCdr in one write: the record is
// kept with the IVR call its callid names, whose id becomes its Call, and
// stored with every record. Failing to keep it with its call does not
// keep it from the others (CdrKept.AttachErr).
func (s *BoltStore) AttachAndKeepCdr(c Cdr, now time.Time) (CdrKept, error) {
	enc, err := json.Marshal(c.CdrRecord)
	if err != nil {
		return CdrKept{}, err
	}
	var out CdrKept
	err = s.write(func(tx *bolt.Tx) error {
		out = CdrKept{}
		out.CallID, out.AttachErr = attachCdrTx(tx, c.Device, c.CallID, c.CdrRecord, enc)
		if out.AttachErr != nil {
			out.CallID = ""
		}
		rec := c
		rec.Call = out.CallID
		var err error
		out.Kept, err = keepCdrTx(tx, rec, now)
		return err
	})
	return out, err
}

// keepCdrTx is KeepCdr within tx.
func keepCdrTx(tx *bolt.Tx, c Cdr, now time.Time) (bool, error) {
	id := []byte(c.key())
	keys := tx.Bucket(bucketCdrKeys)
	if keys.Get(id) != nil {
		return false, nil
	}
	enc, err := json.Marshal(c) // inside: Call is known only here
	if err != nil {
		return false, err
	}
	k := endKey(c.Ended, string(id))
	if err := tx.Bucket(bucketCdrs).Put(k, enc); err != nil {
		return false, err
	}
	if err := keys.Put(id, k); err != nil {
		return false, err
	}
	if c.Recording != "" {
		return true, queueRecordingTx(tx, c, now)
	}
	return true, nil
}

// SearchCdrs returns the call records q selects, newest first, walking the
// records from Until (or Before) down to Since.
func (s *BoltStore) SearchCdrs(q CdrQuery) (CdrPage, error) {
	var page CdrPage
	from, floor, err := timeBounds(q.Before, q.Since, q.Until)
	if err != nil {
		return page, fmt.Errorf("search call records: %w", err)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		var err error
		page.Next, err = walkNewest(tx.Bucket(bucketCdrs), from, floor, q.Limit, func(k, v []byte) (bool, error) {
			var r Cdr
			if err := json.Unmarshal(v, &r); err != nil {
				return false, fmt.Errorf("call record %s: %w", k[8:], err)
			}
			if q.Number != "" && !strings.Contains(r.CPN, q.Number) && !strings.Contains(r.CDPN, q.Number) {
				return false, nil
			}
			if q.Ext != "" && r.CPN != q.Ext && r.CDPN != q.Ext {
				return false, nil
			}
			page.Cdrs = append(page.Cdrs, r)
			return true, nil
		})
		return err
	})
	return page, err
}

// pruneCdrsTx drops the call records that ended more than maxAge before
// now, and the oldest beyond the newest maxCount: the history's retention.
func pruneCdrsTx(tx *bolt.Tx, now time.Time, maxAge time.Duration, maxCount int) (int, error) {
	recs, keys := tx.Bucket(bucketCdrs), tx.Bucket(bucketCdrKeys)
	drop := expiredKeys(recs, now, maxAge, maxCount)
	for _, k := range drop {
		if err := recs.Delete(k); err != nil {
			return 0, err
		}
		if err := keys.Delete(k[8:]); err != nil {
			return 0, err
		}
	}
	return len(drop), nil
}

// cdrKeeper is a Store that also keeps every call record (BoltStore).
type cdrKeeper interface {
	AttachAndKeepCdr(c Cdr, now time.Time) (CdrKept, error)
}

// keepCdr keeps the record of ev: with the IVR call it belongs to and, in
// a store that keeps every record, among them, in one write; got is when
// it arrived. It returns the IVR call's id ("" for none). It runs off the
// report's goroutine (attachCdr).
func (r *Router) keepCdr(d *Device, ev Event, got time.Time) string {
	k, ok := r.store.(cdrKeeper)
	if !ok {
		id, err := r.store.AttachCdr(ev.Device, ev.CallID, *ev.Cdr)
		if err != nil {
			r.log.Warn("cannot keep the call record", "device", ev.Device, "callid", ev.CallID, "error", err)
		}
		return id
	}
	c := Cdr{CdrRecord: *ev.Cdr, Device: ev.Device, CallID: ev.CallID, Ended: got}
	loc := d.TZ
	if loc == nil {
		loc = time.UTC
	}
	if t, err := time.ParseInLocation(cdrTimeLayout, c.TimeEnd, loc); err == nil {
		c.Ended = t
	}
	// A recording's fetch is queued on the wall clock, the fetcher's
	// (RecordingsOptions.Now), not on the router's.
	res, err := k.AttachAndKeepCdr(c, time.Now())
	id := res.CallID
	c.Call = id
	if res.AttachErr != nil {
		r.log.Warn("cannot keep the call record with its call", "device", ev.Device, "callid", ev.CallID, "error", res.AttachErr)
	}
	switch {
	case err != nil:
		r.log.Warn("cannot keep the call record", "device", ev.Device, "callid", ev.CallID, "error", err)
	case !res.Kept:
		r.log.Debug("call record sent again; kept once", "device", ev.Device, "callid", ev.CallID, "cdr", c.ID)
	default:
		r.publishCdr(c)
		if r.onCdrKept != nil {
			r.onCdrKept(c)
		}
	}
	return id
}

// cdrTimeLayout is how a device writes a call record's times
// (yyyyMMddHHmmss); the engine knows no OM wire format beyond this.
const cdrTimeLayout = "20060102150405"
