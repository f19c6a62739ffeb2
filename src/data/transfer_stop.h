/* transfer_stop.h: the data layer's libcurl transfers end early when their thread's work was given up
 * (util_thread_should_stop); see transfer_stop.c. */
#ifndef AMLFS_DATA_TRANSFER_STOP_H
#define AMLFS_DATA_TRANSFER_STOP_H

#include <curl/curl.h>

/* Makes h's transfer end with CURLE_ABORTED_BY_CALLBACK once util_thread_should_stop() says so. */
void data_curl_stoppable(CURL *h);

#endif
