package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestStartAndNewDatabase(t *testing.T) {
	c := Start(t)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		url := c.NewDatabase(t)
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatalf("connect %s: %v", url, err)
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE t (x int)"); err != nil {
			t.Fatalf("create table in %s: %v", url, err)
		}
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 't'").Scan(&n); err != nil || n != 1 {
			t.Fatalf("table count in %s = %d, %v; want 1 (databases must be separate)", url, n, err)
		}
		conn.Close(ctx)
	}
}
