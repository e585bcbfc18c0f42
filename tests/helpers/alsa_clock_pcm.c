/*
 * A test PCM with a real-time clock, for machines with no sound card: an ALSA
 * external (ioplug) plugin, type `pacer_clock`, that consumes what it is given
 * at `speed` times the nominal rate, by CLOCK_MONOTONIC, as a sound card's DMA
 * would. The `null` and `file` PCMs take everything at once, so they can never
 * run dry; this one can, and then it is in XRUN as a card is (snd_pcm_writei
 * and snd_pcm_avail_update answer -EPIPE until the application recovers), and
 * when full it takes nothing (-EAGAIN in non-blocking mode).
 *
 *   pcm_type.pacer_clock { lib "/path/libasound_module_pcm_pacer_clock.so" }
 *   pcm.fast { type pacer_clock  speed 1.1  file "/path/heard.raw" }
 *
 * `file` gets every frame written, in order, with no header. `xruns` (a path)
 * gets the count of underruns, rewritten at each one, so a test can read it.
 * Built by tests/helpers/alsa_clock.ts with gcc against libasound2-dev.
 */
#include <alsa/asoundlib.h>
#include <alsa/pcm_external.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

typedef struct {
	snd_pcm_ioplug_t io;
	double speed;            /* device frames per nominal frame */
	int out;                 /* what was written goes here, or -1 */
	char *xruns_path;        /* the underrun count is written here, or NULL */
	unsigned long xruns;
	struct timespec t0;      /* when the clock last (re)started */
	snd_pcm_uframes_t base;  /* frames consumed before t0 */
	snd_pcm_uframes_t played;/* frames consumed, as of the last look */
	int running;
} clock_pcm_t;

static double since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void note_xrun(clock_pcm_t *c)
{
	c->xruns++;
	if (!c->xruns_path)
		return;
	FILE *f = fopen(c->xruns_path, "w");
	if (f) {
		fprintf(f, "%lu\n", c->xruns);
		fclose(f);
	}
}

static int clock_start(snd_pcm_ioplug_t *io)
{
	clock_pcm_t *c = io->private_data;
	clock_gettime(CLOCK_MONOTONIC, &c->t0);
	c->base = c->played;
	c->running = 1;
	return 0;
}

static int clock_stop(snd_pcm_ioplug_t *io)
{
	clock_pcm_t *c = io->private_data;
	c->running = 0;
	return 0;
}

static int clock_prepare(snd_pcm_ioplug_t *io)
{
	clock_pcm_t *c = io->private_data;
	c->running = 0;
	c->base = c->played = 0;  /* ioplug restarts both pointers at 0 */
	return 0;
}

/* Frames the clock has consumed by now (all that was written and more, once it has run dry). */
static snd_pcm_uframes_t consumed(const clock_pcm_t *c, const snd_pcm_ioplug_t *io)
{
	if (!c->running)
		return c->played;
	return c->base + (snd_pcm_uframes_t)(since(&c->t0) * io->rate * c->speed);
}

/* Where the "DMA" is, within the buffer; -EPIPE once it has reached the end of what was written. */
static snd_pcm_sframes_t clock_pointer(snd_pcm_ioplug_t *io)
{
	clock_pcm_t *c = io->private_data;
	snd_pcm_uframes_t now = consumed(c, io);
	if (c->running && now >= io->appl_ptr) {
		c->played = io->appl_ptr;
		c->running = 0;
		if (io->state != SND_PCM_STATE_DRAINING)
			note_xrun(c);
		return -EPIPE;
	}
	c->played = now;
	return c->played % io->buffer_size;
}

/* A card that has run dry is in XRUN and cannot pause: the next look at the pointer says so, once. */
static int clock_pause(snd_pcm_ioplug_t *io, int enable)
{
	clock_pcm_t *c = io->private_data;
	if (enable) {
		if (c->running && consumed(c, io) >= io->appl_ptr)
			return -EPIPE;
		c->played = consumed(c, io);
		c->running = 0;
		return 0;
	}
	return clock_start(io);
}

/*
 * Plays out what is written and returns. One that ran dry before the drain began is an
 * underrun (ioplug's own drain would only see -EPIPE while draining, and stop quietly).
 */
static int clock_drain(snd_pcm_ioplug_t *io)
{
	clock_pcm_t *c = io->private_data;
	if (!c->running && c->played < io->appl_ptr)
		clock_start(io); /* prepared but below the start threshold: play what there is */
	snd_pcm_uframes_t now = consumed(c, io);
	if (now >= io->appl_ptr) {
		if (c->running && c->played < io->appl_ptr)
			note_xrun(c);
	} else {
		double left = (double)(io->appl_ptr - now) / io->rate / c->speed;
		struct timespec wait = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9)};
		while (nanosleep(&wait, &wait) < 0 && errno == EINTR)
			;
	}
	c->played = io->appl_ptr;
	c->running = 0;
	return 0;
}

static snd_pcm_sframes_t clock_transfer(snd_pcm_ioplug_t *io, const snd_pcm_channel_area_t *areas,
					snd_pcm_uframes_t offset, snd_pcm_uframes_t size)
{
	clock_pcm_t *c = io->private_data;
	if (c->out >= 0) {
		/* Interleaved: one area's address covers every channel. */
		const char *from = (const char *)areas[0].addr + (areas[0].first + areas[0].step * offset) / 8;
		size_t bytes = snd_pcm_frames_to_bytes(io->pcm, size);
		while (bytes > 0) {
			ssize_t n = write(c->out, from, bytes);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				return -EIO;
			}
			from += n;
			bytes -= (size_t)n;
		}
	}
	return size;
}

/* The poll descriptor is a timerfd ticking once a period: waiters wake as a card's interrupt would wake them. */
static int clock_hw_params(snd_pcm_ioplug_t *io, snd_pcm_hw_params_t *params)
{
	(void)params;
	double period = (double)io->period_size / io->rate / ((clock_pcm_t *)io->private_data)->speed;
	struct itimerspec every = {0};
	every.it_interval.tv_sec = (time_t)period;
	every.it_interval.tv_nsec = (long)((period - (double)(time_t)period) * 1e9);
	if (every.it_interval.tv_sec == 0 && every.it_interval.tv_nsec == 0)
		every.it_interval.tv_nsec = 1000000;
	every.it_value = every.it_interval;
	return timerfd_settime(io->poll_fd, 0, &every, NULL) < 0 ? -errno : 0;
}

static int clock_poll_revents(snd_pcm_ioplug_t *io, struct pollfd *pfd, unsigned int nfds, unsigned short *revents)
{
	(void)nfds;
	uint64_t ticks;
	if (pfd[0].revents & POLLIN) {
		if (read(io->poll_fd, &ticks, sizeof ticks) < 0 && errno != EAGAIN)
			return -errno;
		*revents = io->stream == SND_PCM_STREAM_PLAYBACK ? POLLOUT : POLLIN;
	} else {
		*revents = 0;
	}
	return 0;
}

static int clock_close(snd_pcm_ioplug_t *io)
{
	clock_pcm_t *c = io->private_data;
	if (c->out >= 0)
		close(c->out);
	close(io->poll_fd);
	free(c->xruns_path);
	free(c);
	return 0;
}

static const snd_pcm_ioplug_callback_t callbacks = {
	.start = clock_start,
	.stop = clock_stop,
	.prepare = clock_prepare,
	.pointer = clock_pointer,
	.pause = clock_pause,
	.drain = clock_drain,
	.transfer = clock_transfer,
	.hw_params = clock_hw_params,
	.poll_revents = clock_poll_revents,
	.close = clock_close,
};

SND_PCM_PLUGIN_DEFINE_FUNC(pacer_clock)
{
	snd_config_iterator_t i, next;
	double speed = 1.0;
	const char *file = NULL, *xruns = NULL;
	snd_config_for_each(i, next, conf) {
		snd_config_t *n = snd_config_iterator_entry(i);
		const char *id;
		if (snd_config_get_id(n, &id) < 0)
			continue;
		if (!strcmp(id, "comment") || !strcmp(id, "type") || !strcmp(id, "hint"))
			continue;
		if (!strcmp(id, "speed")) {
			if (snd_config_get_ireal(n, &speed) < 0 || speed <= 0) {
				SNDERR("pacer_clock: speed must be a positive number");
				return -EINVAL;
			}
			continue;
		}
		if (!strcmp(id, "file") && snd_config_get_string(n, &file) >= 0)
			continue;
		if (!strcmp(id, "xruns") && snd_config_get_string(n, &xruns) >= 0)
			continue;
		SNDERR("pacer_clock: unknown field %s", id);
		return -EINVAL;
	}
	if (stream != SND_PCM_STREAM_PLAYBACK)
		return -EINVAL;

	clock_pcm_t *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->speed = speed;
	c->out = file ? open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
	c->xruns_path = xruns ? strdup(xruns) : NULL;
	int timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if ((file && c->out < 0) || timer < 0) {
		int err = -errno;
		if (c->out >= 0)
			close(c->out);
		if (timer >= 0)
			close(timer);
		free(c->xruns_path);
		free(c);
		return err;
	}
	c->io.version = SND_PCM_IOPLUG_VERSION;
	c->io.name = "pacer test clock";
	c->io.callback = &callbacks;
	c->io.private_data = c;
	c->io.poll_fd = timer;
	c->io.poll_events = POLLIN;
	c->io.mmap_rw = 0;
	int err = snd_pcm_ioplug_create(&c->io, name, stream, mode);
	if (err < 0) {
		close(timer);
		if (c->out >= 0)
			close(c->out);
		free(c->xruns_path);
		free(c);
		return err;
	}

	static const unsigned int access[] = {SND_PCM_ACCESS_RW_INTERLEAVED};
	static const unsigned int formats[] = {
		SND_PCM_FORMAT_U8, SND_PCM_FORMAT_S16_LE, SND_PCM_FORMAT_S24_3LE,
		SND_PCM_FORMAT_S24_LE, SND_PCM_FORMAT_S32_LE, SND_PCM_FORMAT_FLOAT_LE,
	};
	if ((err = snd_pcm_ioplug_set_param_list(&c->io, SND_PCM_IOPLUG_HW_ACCESS, 1, access)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_list(&c->io, SND_PCM_IOPLUG_HW_FORMAT, 6, formats)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(&c->io, SND_PCM_IOPLUG_HW_CHANNELS, 1, 8)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(&c->io, SND_PCM_IOPLUG_HW_RATE, 8000, 192000)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(&c->io, SND_PCM_IOPLUG_HW_PERIOD_BYTES, 64, 1 << 20)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(&c->io, SND_PCM_IOPLUG_HW_PERIODS, 2, 64)) < 0) {
		snd_pcm_ioplug_delete(&c->io);
		return err;
	}
	*pcmp = c->io.pcm;
	return 0;
}

SND_PCM_PLUGIN_SYMBOL(pacer_clock);
