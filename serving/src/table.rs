//! Reading a run's `requests.csv` back (what `archsim plot` redraws a serving run from).

use crate::report::RequestTable;
use crate::ServingError;

impl RequestTable {
    /// Reads a table [`RequestTable::write_csv`] wrote; errors name the line and column.
    pub fn read_csv(bytes: &[u8]) -> Result<RequestTable, ServingError> {
        let bad = |m: String| ServingError::Config {
            key: "requests.csv".into(),
            reason: m,
        };
        let mut r = csv::Reader::from_reader(bytes);
        let headers = r.headers().map_err(|e| bad(e.to_string()))?.clone();
        let want = [
            "id",
            "arrival_s",
            "prompt_tokens",
            "output_tokens",
            "pool",
            "replica",
            "queue_s",
            "ttft_s",
            "tpot_s",
            "e2e_s",
            "preemptions",
            "slo_met",
        ];
        let mut col = [0usize; 12];
        for (k, name) in want.iter().enumerate() {
            col[k] = headers
                .iter()
                .position(|h| h == *name)
                .ok_or_else(|| bad(format!("no column `{name}`")))?;
        }
        let mut t = RequestTable::default();
        for (i, rec) in r.records().enumerate() {
            let rec = rec.map_err(|e| bad(e.to_string()))?;
            let line = i + 2;
            let f = |k: usize| -> Result<f64, ServingError> {
                rec.get(col[k])
                    .and_then(|c| c.trim().parse::<f64>().ok())
                    .ok_or_else(|| bad(format!("line {line}, column `{}`: not a number", want[k])))
            };
            let u = |k: usize| -> Result<u64, ServingError> {
                rec.get(col[k])
                    .and_then(|c| c.trim().parse::<u64>().ok())
                    .ok_or_else(|| bad(format!("line {line}, column `{}`: not a count", want[k])))
            };
            t.id.push(u(0)?);
            t.arrival_s.push(f(1)?);
            t.prompt_tokens.push(u(2)?);
            t.output_tokens.push(u(3)?);
            t.pool.push(u(4)?);
            t.replica.push(u(5)?);
            t.queue_s.push(f(6)?);
            t.ttft_s.push(f(7)?);
            t.tpot_s.push(f(8)?);
            t.e2e_s.push(f(9)?);
            t.preemptions.push(u(10)?);
            t.slo_met.push(u(11)? != 0);
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_table_reads_back() {
        let t = RequestTable {
            id: vec![0, 1],
            arrival_s: vec![0.5, 1.25],
            prompt_tokens: vec![10, 20],
            output_tokens: vec![3, 1],
            pool: vec![0, 0],
            replica: vec![1, 0],
            queue_s: vec![0.001, 0.0],
            ttft_s: vec![0.02, 0.03],
            tpot_s: vec![0.004, 0.0],
            e2e_s: vec![0.03, 0.03],
            preemptions: vec![0, 2],
            slo_met: vec![true, false],
        };
        let mut bytes = Vec::new();
        t.write_csv(&mut bytes).unwrap();
        let back = RequestTable::read_csv(&bytes).unwrap();
        assert_eq!(back.id, t.id);
        assert_eq!(back.e2e_s, t.e2e_s);
        assert_eq!(back.slo_met, t.slo_met);
        assert_eq!(back.replica, t.replica);
    }
}
