package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the backend on a Redis server: every instance using the server
// (and the same Prefix) shares the buckets. A take is one Lua script,
// which Redis runs atomically; each bucket key expires by itself when the
// bucket is full again, so memory stays bounded without a sweep.
type Redis struct {
	Client *redis.Client
	Prefix string           // prepended to every key, e.g. "tolk:rl:"
	Now    func() time.Time // time.Now when nil
}

// NewRedis connects to the server named by url (redis://[:password@]host:port/db,
// or rediss:// for TLS) and checks that it answers.
func NewRedis(ctx context.Context, url, prefix string, now func() time.Time) (*Redis, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		// The parse error may quote the URL, password included.
		return nil, errors.New("ratelimit: invalid redis_url")
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = 2*time.Second, time.Second, time.Second
	c := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("ratelimit: redis at %s: %w", opts.Addr, err)
	}
	return &Redis{Client: c, Prefix: prefix, Now: now}, nil
}

// Limiter implements Backend.
func (r *Redis) Limiter(p Policy) Limiter {
	p.validate()
	return &redisLimiter{r: r, p: p}
}

// Close implements Backend.
func (r *Redis) Close() error { return r.Client.Close() }

func (r *Redis) now() time.Time {
	// The script keeps microseconds.
	if r.Now == nil {
		return time.Now().Truncate(time.Microsecond)
	}
	return r.Now().Truncate(time.Microsecond)
}

// takeScript is GCRA in one atomic step. KEYS[1] is the bucket;
// ARGV: now, cost and capacity in microseconds. The value is the instant
// (Unix microseconds) at which the bucket is full again; the key expires
// then. It returns {taken (0/1), instant}. string.format("%d") keeps the
// 16-digit instant exact (tostring would round it to 14 digits).
var takeScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local capacity = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local nxt = tat + cost
if nxt - now > capacity then
  return {0, string.format('%d', tat)}
end
redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX', math.max(1, math.ceil((nxt - now) / 1000)))
return {1, string.format('%d', nxt)}
`)

// refundScript gives one take back atomically. KEYS[1] is the bucket;
// ARGV: now and cost in microseconds. A bucket without a key is full
// already; one that the refund fills is deleted.
var refundScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local now = tonumber(ARGV[1])
local nxt = tonumber(v) - tonumber(ARGV[2])
if nxt <= now then
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX', math.max(1, math.ceil((nxt - now) / 1000)))
return 1
`)

type redisLimiter struct {
	r *Redis
	p Policy
}

func (l *redisLimiter) key(k string) string { return l.r.Prefix + fullKey(l.p, k) }

func (l *redisLimiter) Check(ctx context.Context, key string) (Decision, error) {
	now := l.r.now()
	v, err := l.r.Client.Get(ctx, l.key(key)).Int64()
	if errors.Is(err, redis.Nil) {
		v, err = 0, nil
	}
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: redis: %w", err)
	}
	return checkDecision(l.p, fromMicros(v), now), nil
}

func (l *redisLimiter) Fail(ctx context.Context, key string) error {
	_, err := l.Hit(ctx, key)
	return err
}

func (l *redisLimiter) Hit(ctx context.Context, key string) (Decision, error) {
	now := l.r.now()
	res, err := takeScript.Run(ctx, l.r.Client, []string{l.key(key)},
		now.UnixMicro(), l.p.Interval.Microseconds(), (time.Duration(l.p.Burst) * l.p.Interval).Microseconds()).Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: redis: %w", err)
	}
	if len(res) != 2 {
		return Decision{}, fmt.Errorf("ratelimit: redis: unexpected script result %v", res)
	}
	taken, _ := res[0].(int64)
	var tat int64
	if s, ok := res[1].(string); ok {
		_, err = fmt.Sscan(s, &tat)
	} else {
		err = fmt.Errorf("unexpected instant %v", res[1])
	}
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: redis: %w", err)
	}
	return decide(l.p, fromMicros(tat), now, taken == 1), nil
}

func (l *redisLimiter) Refund(ctx context.Context, key string) error {
	err := refundScript.Run(ctx, l.r.Client, []string{l.key(key)}, l.r.now().UnixMicro(), l.p.Interval.Microseconds()).Err()
	if err != nil {
		return fmt.Errorf("ratelimit: redis: %w", err)
	}
	return nil
}

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v)
}
