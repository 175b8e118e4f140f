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
// and id) is stored already; kept says which. A record that names a
// Recording queues its fetch in the same transaction (Recordings).
func (s *BoltStore) KeepCdr(c Cdr) (kept bool, err error) {
	enc, err := json.Marshal(c)
	if err != nil {
		return false, err
	}
	id := []byte(c.key())
	err = s.write(func(tx *bolt.Tx) error {
		kept = false
		keys := tx.Bucket(bucketCdrKeys)
		if keys.Get(id) != nil {
			return nil
		}
		k := endKey(c.Ended, string(id))
		if err := tx.Bucket(bucketCdrs).Put(k, enc); err != nil {
			return err
		}
		kept = true
		if err := keys.Put(id, k); err != nil {
			return err
		}
		if c.Recording != "" {
			return queueRecordingTx(tx, c, time.Now())
		}
		return nil
	})
	return kept, err
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
	KeepCdr(c Cdr) (bool, error)
}

// keepCdr stores the record of ev as sent, with the IVR call it belongs
// to (callID, "" for none); got is when it arrived. It runs where
// attachCdr writes, off the report's goroutine.
func (r *Router) keepCdr(d *Device, ev Event, callID string, got time.Time) {
	k, ok := r.store.(cdrKeeper)
	if !ok {
		return
	}
	c := Cdr{CdrRecord: *ev.Cdr, Device: ev.Device, CallID: ev.CallID, Call: callID, Ended: got}
	loc := d.TZ
	if loc == nil {
		loc = time.UTC
	}
	if t, err := time.ParseInLocation(cdrTimeLayout, c.TimeEnd, loc); err == nil {
		c.Ended = t
	}
	kept, err := k.KeepCdr(c)
	switch {
	case err != nil:
		r.log.Warn("cannot store the call record", "device", ev.Device, "callid", ev.CallID, "error", err)
	case !kept:
		r.log.Debug("call record sent again; kept once", "device", ev.Device, "callid", ev.CallID, "cdr", c.ID)
	default:
		r.publishCdr(c)
		if r.onCdrKept != nil {
			r.onCdrKept(c)
		}
	}
}

// cdrTimeLayout is how a device writes a call record's times
// (yyyyMMddHHmmss); the engine knows no OM wire format beyond this.
const cdrTimeLayout = "20060102150405"
