console.log(`js-hello post state=${process.env.STATE_started}`);
