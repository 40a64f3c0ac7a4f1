/* Constructors of the built-in drivers (registered in driver/registry.c). */
#ifndef TIER_DRIVER_DRIVERS_H
#define TIER_DRIVER_DRIVERS_H

#include "tier/sys/driver.h"

int tier_driver_file_open(tier_driver **out, const tier_url *url,
                          const tier_location_options *opts);
int tier_driver_fault_open(tier_driver **out, const tier_url *url,
                           const tier_location_options *opts);
/* ftp, ftps, sftp (libcurl) */
int tier_driver_curl_open(tier_driver **out, const tier_url *url,
                          const tier_location_options *opts);
int tier_driver_s3_open(tier_driver **out, const tier_url *url,
                        const tier_location_options *opts);

/**
 * Check a tier path given to a driver: relative, no empty, "." or ".."
 * part, no control byte; "" (the root) only with allow_root.  TIER_EUSAGE.
 */
int tier_driver_check_path(const char *rel, int allow_root);

#endif
