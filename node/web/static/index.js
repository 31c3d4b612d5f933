"use strict";
// The node's front page: where each kind of user goes.
HC.start(async () => {});
