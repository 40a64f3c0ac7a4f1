#include "driver/drivers.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

#define MAX_DRIVERS 16

static struct {
	char scheme[16];
	tier_driver_open_fn open;
} registry[MAX_DRIVERS];
static size_t nregistry;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

static int put_locked(const char *scheme, tier_driver_open_fn open)
{
	for (size_t i = 0; i < nregistry; i++)
		if (!strcmp(registry[i].scheme, scheme)) {
			registry[i].open = open;
			return 0;
		}
	if (nregistry == MAX_DRIVERS ||
	    strlen(scheme) >= sizeof(registry[0].scheme))
		return tier_error_set(TIER_EUSAGE,
		                      "cannot register driver '%s'", scheme);
	strcpy(registry[nregistry].scheme, scheme);
	registry[nregistry++].open = open;
	return 0;
}

static void register_builtin(void)
{
	pthread_mutex_lock(&registry_lock);
	put_locked("file", tier_driver_file_open);
	put_locked("fault", tier_driver_fault_open);
	/* strong references: a static link must pull every driver in */
	put_locked("ftp", tier_driver_curl_open);
	put_locked("ftps", tier_driver_curl_open);
	put_locked("sftp", tier_driver_curl_open);
	put_locked("s3", tier_driver_s3_open);
	pthread_mutex_unlock(&registry_lock);
}

int tier_driver_register(const char *scheme, tier_driver_open_fn open)
{
	pthread_once(&builtin_once, register_builtin);
	pthread_mutex_lock(&registry_lock);
	int rc = put_locked(scheme, open);
	pthread_mutex_unlock(&registry_lock);
	return rc;
}

int tier_driver_open(tier_driver **out, const tier_url *url,
                     const tier_location_options *opts)
{
	tier_driver_open_fn open = NULL;
	*out = NULL;
	pthread_once(&builtin_once, register_builtin);
	pthread_mutex_lock(&registry_lock);
	for (size_t i = 0; i < nregistry; i++)
		if (!strcmp(registry[i].scheme, url->scheme))
			open = registry[i].open;
	pthread_mutex_unlock(&registry_lock);
	if (!open)
		return tier_error_set(TIER_EUSAGE,
		                      "no driver for tier scheme '%s://'",
		                      url->scheme);
	return open(out, url, opts);
}
