/*
 * The scale section's C reference (bench/scale.ts): what this host's kernel
 * costs for N paced destinations, with no runtime above it. It reads a file
 * of whole datagrams and sends datagram i of it to every destination at
 * start + i * interval, by clock_nanosleep(TIMER_ABSTIME) with a timer slack
 * of 1 ns, on one unconnected socket, in sendmmsg calls of up to 1024
 * messages. Without STAGGER every destination's datagram of a round is due at
 * the same instant (one burst a round); the bench runs it with STAGGER=1 and
 * pacer's window, as pacer sends one job's outputs (see main). With BUFFER_EACH=1
 * every destination reads the file for itself, as one job each of a push server does: into a
 * buffer of its own (RING_BYTES), 128 KiB by pread when 64 KiB are left ahead, and its datagrams
 * go from there (pacer's job.ts sizes and marks); without it all share the file read once.
 *
 *   paced_sendmmsg FILE DATAGRAM_BYTES INTERVAL_NS DEST...   (DEST: PORT on 127.0.0.1, or IPV4:PORT)
 *
 * Exits 0 when every datagram was handed to the kernel, 1 otherwise.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BATCH 1024
/* BUFFER_EACH: pacer's load size and mark at 1.5 Mbit/s (job.ts), and a buffer of both. */
#define CHUNK_BYTES (128 * 1024)
#define MARK_BYTES (64 * 1024)
#define RING_BYTES (CHUNK_BYTES + MARK_BYTES)

/* One destination's own buffer: file bytes [loaded - RING_BYTES, loaded) lie at offset % RING_BYTES. */
struct own_buffer {
	char *ring;
	long long loaded;
};

/* Reads the next chunk (`chunk` bytes) into b, in two parts where it wraps; returns 0, or -1 on a read error. */
static int load(int fd, struct own_buffer *b, long long size, long long chunk)
{
	long long want = size - b->loaded < chunk ? size - b->loaded : chunk;
	while (want > 0) {
		long long at = b->loaded % RING_BYTES;
		long long part = RING_BYTES - at < want ? RING_BYTES - at : want;
		ssize_t got = pread(fd, b->ring + at, part, b->loaded);
		if (got <= 0)
			return -1;
		b->loaded += got;
		want -= got;
	}
	return 0;
}

static long long monoNs(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
}

/* Sends count messages; returns how many could not be sent (a refused port and the like). */
static unsigned long long flush(int fd, struct mmsghdr *msgs, int count)
{
	unsigned long long unsent = 0;
	int done = 0;
	while (done < count) {
		int sent = sendmmsg(fd, msgs + done, count - done, 0);
		if (sent > 0) {
			done += sent;
		} else if (sent < 0 && (errno == EAGAIN || errno == ENOBUFS || errno == EINTR)) {
			continue;
		} else {
			unsent++;
			done++;
		}
	}
	return unsent;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: paced_sendmmsg FILE DATAGRAM_BYTES INTERVAL_NS DEST...\n");
		return 2;
	}
	size_t size = strtoul(argv[2], NULL, 10);
	long long interval = strtoll(argv[3], NULL, 10);
	int n = argc - 4;
	FILE *f = fopen(argv[1], "rb");
	struct stat st;
	if (!f || fstat(fileno(f), &st) < 0 || size == 0) {
		perror(argv[1]);
		return 2;
	}
	const char *eachEnv = getenv("BUFFER_EACH");
	int each = eachEnv && *eachEnv && strcmp(eachEnv, "0") != 0;
	/* The one buffer: the whole file, read once (a buffer each reads for itself, below). */
	char *data = NULL;
	if (!each && (!(data = malloc(st.st_size)) || fread(data, 1, st.st_size, f) != (size_t)st.st_size)) {
		perror("read");
		return 2;
	}
	size_t rounds = (st.st_size + size - 1) / size;

	struct sockaddr_in *to = calloc(n, sizeof *to);
	for (int i = 0; i < n; i++) {
		/* PORT (to 127.0.0.1) or ADDRESS:PORT. */
		const char *arg = argv[4 + i];
		const char *colon = strrchr(arg, ':');
		to[i].sin_family = AF_INET;
		to[i].sin_port = htons(atoi(colon ? colon + 1 : arg));
		to[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (colon) {
			char host[64];
			size_t len = (size_t)(colon - arg) < sizeof host - 1 ? (size_t)(colon - arg) : sizeof host - 1;
			memcpy(host, arg, len);
			host[len] = 0;
			if (inet_pton(AF_INET, host, &to[i].sin_addr) != 1) {
				fprintf(stderr, "paced_sendmmsg: %s: not an IPv4 address\n", arg);
				return 2;
			}
		}
	}
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	int sndbuf = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0);

	struct mmsghdr *msgs = calloc(BATCH, sizeof *msgs);
	/* Two parts per datagram at most: one that wraps round its own buffer's end. */
	struct iovec *iov = calloc(2 * BATCH, sizeof *iov);
	struct own_buffer *own = NULL;
	if (each) {
		own = calloc(n, sizeof *own);
		for (int k = 0; k < n; k++) {
			own[k].ring = malloc(RING_BYTES);
			/*
			 * A first load of MARK_BYTES up to the whole buffer, spread over the destinations, so that
			 * their loads fall due in different rounds, as a server's jobs (started one after
			 * another) load at times of their own: in step, all would load in one round.
			 */
			long long first = MARK_BYTES + (long long)k * CHUNK_BYTES / n;
			if (!own[k].ring || load(fileno(f), &own[k], st.st_size, first) < 0) {
				perror("load");
				return 2;
			}
		}
	}
	unsigned long long unsent = 0;
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	/*
	 * With STAGGER=1, destination k's datagrams are due k/n of an interval later than the first's,
	 * as one pacer job's outputs are (started one by one over a unit's time). Datagrams due within
	 * WINDOW_US (default 100, pacer's window) of a pass's start share it, and a pass comes at most
	 * once a window, unless a deadline comes sooner: pacer's rule (scheduler.ts batchedWakeAt).
	 */
	const char *staggerEnv = getenv("STAGGER");
	int stagger = staggerEnv && *staggerEnv && strcmp(staggerEnv, "0") != 0;
	const char *windowEnv = getenv("WINDOW_US");
	long long window = (windowEnv && *windowEnv ? atoll(windowEnv) : 100) * 1000LL;
	long long t0 = (long long)start.tv_sec * 1000000000LL + start.tv_nsec;
	long long passStart = -(1LL << 62);
	int count = 0;
	for (size_t r = 0; r < rounds; r++) {
		size_t len = r + 1 < rounds ? size : st.st_size - r * size;
		for (int k = 0; k < n; k++) {
			long long due = t0 + (long long)r * interval + (stagger ? (long long)k * interval / n : 0);
			long long offset = (long long)r * size;
			/*
			 * A buffer each: loaded when this datagram finds less than MARK_BYTES ahead, as a load
			 * event is; what is staged goes first, as pacer flushes before a load (the chunk
			 * overwrites what lies more than MARK_BYTES behind, maybe a staged datagram).
			 */
			int loadDue = each && own[k].loaded - offset < MARK_BYTES && own[k].loaded < st.st_size;
			if (count > 0 && (due > passStart + window || count == BATCH || loadDue)) {
				unsent += flush(fd, msgs, count);
				count = 0;
			}
			if (count == 0) {
				long long floor = passStart + window < due ? passStart + window : due;
				long long wake = due - window > floor ? due - window : floor;
				if (wake > monoNs()) {
					struct timespec at = {wake / 1000000000LL, wake % 1000000000LL};
					while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR)
						;
				}
				passStart = monoNs();
			}
			struct iovec *parts = &iov[2 * count];
			int nparts = 1;
			if (each) {
				struct own_buffer *b = &own[k];
				if (loadDue && load(fileno(f), b, st.st_size, CHUNK_BYTES) < 0) {
					perror("load");
					return 2;
				}
				long long at = offset % RING_BYTES;
				parts[0].iov_base = b->ring + at;
				parts[0].iov_len = at + len <= RING_BYTES ? len : RING_BYTES - at;
				if (parts[0].iov_len < len) {
					parts[1].iov_base = b->ring;
					parts[1].iov_len = len - parts[0].iov_len;
					nparts = 2;
				}
			} else {
				parts[0].iov_base = data + r * size;
				parts[0].iov_len = len;
			}
			memset(&msgs[count].msg_hdr, 0, sizeof msgs[count].msg_hdr);
			msgs[count].msg_hdr.msg_name = &to[k];
			msgs[count].msg_hdr.msg_namelen = sizeof to[0];
			msgs[count].msg_hdr.msg_iov = parts;
			msgs[count].msg_hdr.msg_iovlen = nparts;
			count++;
		}
	}
	unsent += flush(fd, msgs, count);
	if (unsent)
		fprintf(stderr, "paced_sendmmsg: %llu datagrams not sent\n", unsent);
	return unsent ? 1 : 0;
}
