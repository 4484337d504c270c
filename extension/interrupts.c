/*
 * interrupts.c -- the interrupt probe the Swift core polls in its loops.
 */
#include "pgscore.h"

#include "miscadmin.h"

/*
 * Called from Swift loops: must never longjmp, so it only reads the flags.
 * When it says yes, Swift returns PGSC_INTERRUPTED and the caller runs
 * CHECK_FOR_INTERRUPTS() with no Swift frame on the stack.
 */
int32_t
pgscore_stop_requested(void)
{
	return (INTERRUPTS_PENDING_CONDITION() && INTERRUPTS_CAN_BE_PROCESSED()) ? 1 : 0;
}
