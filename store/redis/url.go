package redis

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// parseURL turns Config.URL into options for goredis.NewUniversalClient:
//
//   - redis://[user:pass@]host:port[/db][?opt=…] and rediss:// (TLS): one
//     server, parsed by goredis.ParseURL (query options such as
//     pool_size=20 or dial_timeout=3s are go-redis's).
//   - the same with one or more ?addr=host:port, or the scheme
//     redis+cluster:// / rediss+cluster://: Redis Cluster, the host and every
//     addr being seed nodes, parsed by goredis.ParseClusterURL.
//   - redis+sentinel://[user:pass@]s1:26379,s2:26379/mastername[/db][?opt=…]
//     and rediss+sentinel:// (TLS): the primary that the sentinels name.
//     user:pass authenticate to Redis itself; sentinel_username= and
//     sentinel_password= query options authenticate to the sentinels. A
//     sentinel without a port uses 26379.
//   - unix:///path/to/redis.sock[?db=N]: one server over a Unix socket.
//
// Options that would read from replicas (read_only, route_by_latency,
// route_randomly, replica_only) are refused: a replica may not have a
// revocation written a moment ago yet, and a denylist must not lag.
//
// Errors never include the URL, which may hold a password.
func parseURL(raw string) (*goredis.UniversalOptions, error) {
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, errors.New(`URL must start with redis://, rediss://, redis+cluster://, redis+sentinel:// or unix://`)
	}
	switch strings.ToLower(scheme) {
	case "redis+sentinel", "rediss+sentinel":
		return parseSentinelURL(raw)
	case "redis+cluster", "rediss+cluster":
		return parseClusterURL(strings.TrimSuffix(scheme, "+cluster") + raw[len(scheme):])
	case "redis", "rediss":
		u, err := url.Parse(raw)
		if err != nil {
			return nil, redactURLError(err)
		}
		if u.Query().Has("addr") {
			return parseClusterURL(raw)
		}
		return parseSingleURL(raw)
	case "unix":
		return parseSingleURL(raw)
	default:
		return nil, fmt.Errorf("unsupported URL scheme %q", scheme)
	}
}

func parseSingleURL(raw string) (*goredis.UniversalOptions, error) {
	o, err := goredis.ParseURL(raw)
	if err != nil {
		return nil, redactURLError(err)
	}
	return &goredis.UniversalOptions{
		Addrs:                 []string{o.Addr},
		ClientName:            o.ClientName,
		DB:                    o.DB,
		Protocol:              o.Protocol,
		Username:              o.Username,
		Password:              o.Password,
		MaxRetries:            o.MaxRetries,
		MinRetryBackoff:       o.MinRetryBackoff,
		MaxRetryBackoff:       o.MaxRetryBackoff,
		DialTimeout:           o.DialTimeout,
		ReadTimeout:           o.ReadTimeout,
		WriteTimeout:          o.WriteTimeout,
		PoolFIFO:              o.PoolFIFO,
		PoolSize:              o.PoolSize,
		PoolTimeout:           o.PoolTimeout,
		MinIdleConns:          o.MinIdleConns,
		MaxIdleConns:          o.MaxIdleConns,
		MaxActiveConns:        o.MaxActiveConns,
		MaxConcurrentDials:    o.MaxConcurrentDials,
		ConnMaxIdleTime:       o.ConnMaxIdleTime,
		ConnMaxLifetime:       o.ConnMaxLifetime,
		ConnMaxLifetimeJitter: o.ConnMaxLifetimeJitter,
		TLSConfig:             o.TLSConfig,
		DisableIdentity:       o.DisableIdentity,
		IdentitySuffix:        o.IdentitySuffix,
		UnstableResp3:         o.UnstableResp3,
	}, nil
}

func parseClusterURL(raw string) (*goredis.UniversalOptions, error) {
	o, err := goredis.ParseClusterURL(raw)
	if err != nil {
		return nil, redactURLError(err)
	}
	if o.ReadOnly || o.RouteByLatency || o.RouteRandomly {
		return nil, errors.New("read_only, route_by_latency and route_randomly would read revocations from replicas; remove them")
	}
	return &goredis.UniversalOptions{
		Addrs:                 o.Addrs,
		IsClusterMode:         true,
		ClientName:            o.ClientName,
		Protocol:              o.Protocol,
		Username:              o.Username,
		Password:              o.Password,
		MaxRedirects:          o.MaxRedirects,
		MaxRetries:            o.MaxRetries,
		MinRetryBackoff:       o.MinRetryBackoff,
		MaxRetryBackoff:       o.MaxRetryBackoff,
		DialTimeout:           o.DialTimeout,
		DialerRetries:         o.DialerRetries,
		DialerRetryTimeout:    o.DialerRetryTimeout,
		ReadTimeout:           o.ReadTimeout,
		WriteTimeout:          o.WriteTimeout,
		PoolFIFO:              o.PoolFIFO,
		PoolSize:              o.PoolSize,
		PoolTimeout:           o.PoolTimeout,
		MinIdleConns:          o.MinIdleConns,
		MaxIdleConns:          o.MaxIdleConns,
		MaxActiveConns:        o.MaxActiveConns,
		MaxConcurrentDials:    o.MaxConcurrentDials,
		ConnMaxIdleTime:       o.ConnMaxIdleTime,
		ConnMaxLifetime:       o.ConnMaxLifetime,
		ConnMaxLifetimeJitter: o.ConnMaxLifetimeJitter,
		TLSConfig:             o.TLSConfig,
		DisableIdentity:       o.DisableIdentity,
		IdentitySuffix:        o.IdentitySuffix,
		UnstableResp3:         o.UnstableResp3,
	}, nil
}

// parseSentinelURL rewrites redis+sentinel://user:pass@s1,s2/master/db?q into
// the form goredis.ParseFailoverURL reads (redis://s1/db?master_name=master&
// addr=s2&q) and then sets the credentials, which that form assigns to the
// sentinels rather than to Redis.
func parseSentinelURL(raw string) (*goredis.UniversalOptions, error) {
	// url.Parse rejects a comma-separated host list unless every host but
	// the last lacks a port, so cut the host list out first.
	scheme, rest, _ := strings.Cut(raw, "://")
	authorityEnd := strings.IndexAny(rest, "/?#")
	if authorityEnd < 0 {
		authorityEnd = len(rest)
	}
	userinfo, hosts := "", rest[:authorityEnd]
	if at := strings.LastIndex(hosts, "@"); at >= 0 {
		userinfo, hosts = hosts[:at+1], hosts[at+1:]
	}
	u, err := url.Parse(scheme + "://" + userinfo + "sentinel" + rest[authorityEnd:])
	if err != nil {
		return nil, redactURLError(err)
	}
	var sentinels []string
	for _, h := range strings.Split(hosts, ",") {
		if h == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.Trim(h, "[]"), "26379")
		}
		sentinels = append(sentinels, h)
	}
	if len(sentinels) == 0 {
		return nil, errors.New("sentinel URL names no sentinel host")
	}
	parts := strings.FieldsFunc(u.Path, func(r rune) bool { return r == '/' })
	if len(parts) == 0 || len(parts) > 2 {
		return nil, errors.New("sentinel URL path must be /mastername or /mastername/db")
	}
	q := u.Query()
	sentinelUser, sentinelPass := q.Get("sentinel_username"), q.Get("sentinel_password")
	q.Del("sentinel_username")
	q.Del("sentinel_password")
	if q.Has("master_name") || q.Has("addr") {
		return nil, errors.New("sentinel URL: give the master name in the path and the sentinels in the host list, not as master_name/addr options")
	}
	q.Set("master_name", parts[0])
	for _, s := range sentinels[1:] {
		q.Add("addr", s)
	}
	rewritten := url.URL{
		Scheme:   strings.TrimSuffix(strings.ToLower(u.Scheme), "+sentinel"),
		Host:     sentinels[0],
		RawQuery: q.Encode(),
	}
	if len(parts) == 2 {
		rewritten.Path = "/" + parts[1]
	}
	o, err := goredis.ParseFailoverURL(rewritten.String())
	if err != nil {
		return nil, redactURLError(err)
	}
	if o.ReplicaOnly || o.RouteByLatency || o.RouteRandomly || o.UseDisconnectedReplicas {
		return nil, errors.New("replica_only, route_by_latency, route_randomly and use_disconnected_replicas would read revocations from replicas; remove them")
	}
	opts := &goredis.UniversalOptions{
		Addrs:                 o.SentinelAddrs,
		MasterName:            o.MasterName,
		SentinelUsername:      sentinelUser,
		SentinelPassword:      sentinelPass,
		DB:                    o.DB,
		ClientName:            o.ClientName,
		Protocol:              o.Protocol,
		Username:              o.Username,
		Password:              o.Password,
		MaxRetries:            o.MaxRetries,
		MinRetryBackoff:       o.MinRetryBackoff,
		MaxRetryBackoff:       o.MaxRetryBackoff,
		DialTimeout:           o.DialTimeout,
		DialerRetries:         o.DialerRetries,
		DialerRetryTimeout:    o.DialerRetryTimeout,
		ReadTimeout:           o.ReadTimeout,
		WriteTimeout:          o.WriteTimeout,
		PoolFIFO:              o.PoolFIFO,
		PoolSize:              o.PoolSize,
		PoolTimeout:           o.PoolTimeout,
		MinIdleConns:          o.MinIdleConns,
		MaxIdleConns:          o.MaxIdleConns,
		MaxActiveConns:        o.MaxActiveConns,
		MaxConcurrentDials:    o.MaxConcurrentDials,
		ConnMaxIdleTime:       o.ConnMaxIdleTime,
		ConnMaxLifetime:       o.ConnMaxLifetime,
		ConnMaxLifetimeJitter: o.ConnMaxLifetimeJitter,
		TLSConfig:             o.TLSConfig,
		DisableIdentity:       o.DisableIdentity,
		IdentitySuffix:        o.IdentitySuffix,
		UnstableResp3:         o.UnstableResp3,
	}
	if u.User != nil {
		opts.Username = u.User.Username()
		opts.Password, _ = u.User.Password()
	}
	return opts, nil
}

// redactURLError drops the URL from a *url.Error, whose message quotes the
// whole URL including any password.
func redactURLError(err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return fmt.Errorf("invalid URL: %w", urlErr.Err)
	}
	return err
}
